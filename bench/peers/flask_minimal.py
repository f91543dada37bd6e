"""The Node peer's game, line for line, on the Python stack the project is built on: the floor.

bench/peers/node_server.js's minimal rock-paper-scissors contract (find_match, throw,
match_found, opponent_threw, round_result, game_over; no rooms, timers, results, rate limits or
checks beyond the peer's) as Flask-SocketIO handlers under eventlet. What this costs per match is
what Flask-SocketIO, python-socketio, python-engineio and eventlet cost before any of our code:
`bench/run.py games --servers python --python-cmd ".venv/bin/python bench/peers/flask_minimal.py"`.

PEER_STACK picks the stack under the handlers:
- `stock` (default): the libraries as installed (stdlib json, engineio's WebSockets, eventlet's
  WSGI server).
- `ours`: with every speed-up app.py uses: eiotransport's WebSocket layer and server,
  orjson (rpschat.web.wire_json), ClientPacket's binary check, `async_handlers=False`,
  TCP_NODELAY and EventApp's cheap request contexts (no URL matching, no cookie session).

Env: PORT (default 5001), HOST (default 127.0.0.1), PEER_STACK.
"""

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)
import eventlet  # noqa: E402

eventlet.monkey_patch()

import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from flask import Flask, request  # noqa: E402
from flask_socketio import SocketIO, emit  # noqa: E402

PORT = int(os.environ.get("PORT", "5001"))
HOST = os.environ.get("HOST", "127.0.0.1")
STACK = os.environ.get("PEER_STACK", "stock")

MOVES = {"rock", "paper", "scissors"}
BEATS = {"rock": "scissors", "paper": "rock", "scissors": "paper"}

options = {"async_mode": "eventlet", "cors_allowed_origins": "*"}
if STACK == "ours":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from rpschat.web import wire_json
    from rpschat.web.events import ClientPacket, EventApp

    app = EventApp(__name__)
    options.update(
        json=wire_json, serializer=ClientPacket, async_handlers=False, manage_session=False
    )
else:
    app = Flask(__name__)
sio = SocketIO(app, **options)
if STACK == "ours":
    from eiotransport import install

    install(sio.server, max_backlog_bytes=8 * 1024 * 1024, compression=False)

waiting: dict[int, str] = {}  # best_of -> sid waiting for an opponent
games: dict[str, dict] = {}
players: dict[str, dict] = {}  # sid -> {name, game_id, queued_for}
next_game_id = 1


@app.route("/healthz")
def healthz():
    return "ok"


@sio.on("connect")
def connect(auth=None):
    players[request.sid] = {"name": None, "game_id": None, "queued_for": None}


@sio.on("set_username")
def set_username(data=None):
    name = data.get("username") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name.strip():
        return {"ok": False, "error": "username required"}
    players[request.sid]["name"] = name.strip()
    emit(
        "message",
        {"name": None, "txt": f"{name} has entered the chat!"},
        broadcast=True,
        include_self=False,
    )
    return {"ok": True}


@sio.on("find_match")
def find_match(data=None):
    global next_game_id
    me = players[request.sid]
    try:
        best_of = int(data.get("best_of", 3)) if isinstance(data, dict) else 3
    except (TypeError, ValueError):
        best_of = 3
    if best_of < 1 or best_of % 2 == 0 or not me["name"]:
        return {"ok": False, "error": "bad best_of" if me["name"] else "username required"}
    if me["game_id"] is not None or me["queued_for"] is not None:
        return {"ok": False, "error": "already playing or queued"}
    other_sid = waiting.get(best_of)
    if other_sid is None or other_sid not in players or other_sid == request.sid:
        waiting[best_of] = request.sid
        me["queued_for"] = best_of
        return {"ok": True}
    del waiting[best_of]
    other = players[other_sid]
    other["queued_for"] = None
    game_id = str(next_game_id)
    next_game_id += 1
    names = [other["name"], me["name"]]
    games[game_id] = {
        "id": game_id,
        "needed": best_of // 2 + 1,
        "sids": [other_sid, request.sid],
        "names": names,
        "moves": [None, None],
        "round": 0,
        "score": {names[0]: 0, names[1]: 0},
    }
    other["game_id"] = me["game_id"] = game_id
    sio.emit(
        "match_found", {"game_id": game_id, "opponent": names[1], "best_of": best_of}, to=other_sid
    )
    sio.emit(
        "match_found",
        {"game_id": game_id, "opponent": names[0], "best_of": best_of},
        to=request.sid,
    )
    return {"ok": True}


@sio.on("throw")
def throw(data=None):
    data = data if isinstance(data, dict) else {}
    game = games.get(str(data.get("game_id")))
    move = data.get("move")
    if game is None or move not in MOVES:
        return {"ok": False, "error": "no such game" if game is None else "bad move"}
    sid = request.sid
    if sid not in game["sids"]:
        return {"ok": False, "error": "not your game"}
    idx = game["sids"].index(sid)
    if game["moves"][idx] is not None:
        return {"ok": False, "error": "already threw"}
    game["moves"][idx] = move
    sio.emit("opponent_threw", {"game_id": game["id"]}, to=game["sids"][1 - idx])
    if game["moves"][1 - idx] is not None:
        settle(game)
    return {"ok": True}


def settle(game: dict) -> None:
    game["round"] += 1
    (m0, m1), names = game["moves"], game["names"]
    winner = names[0] if BEATS[m0] == m1 else names[1] if BEATS[m1] == m0 else None
    if winner is not None:
        game["score"][winner] += 1
    result = {
        "game_id": game["id"],
        "round": game["round"],
        "moves": {names[0]: m0, names[1]: m1},
        "winner": winner,
        "score": dict(game["score"]),
    }
    game["moves"] = [None, None]
    for sid in game["sids"]:
        sio.emit("round_result", result, to=sid)
    if winner is not None and game["score"][winner] >= game["needed"]:
        end_game(game, winner, "won")


def end_game(game: dict, winner: str, reason: str) -> None:
    games.pop(game["id"], None)
    over = {"game_id": game["id"], "winner": winner, "score": dict(game["score"]), "reason": reason}
    for sid in game["sids"]:
        if sid in players:
            if players[sid]["game_id"] == game["id"]:
                players[sid]["game_id"] = None
            sio.emit("game_over", over, to=sid)


@sio.on("disconnect")
def disconnect(reason=None):
    me = players.pop(request.sid, None)
    if me is None:
        return
    if me["queued_for"] is not None and waiting.get(me["queued_for"]) == request.sid:
        del waiting[me["queued_for"]]
    game = games.get(me["game_id"]) if me["game_id"] else None
    if game is not None:
        idx = game["sids"].index(request.sid)
        end_game(game, game["names"][1 - idx], "forfeit")
    if me["name"]:
        sio.emit("message", {"name": None, "txt": f"{me['name']} has left the chat!"})


if __name__ == "__main__":
    print(f"flask peer ({STACK}) on http://{HOST}:{PORT} (pid {os.getpid()})", file=sys.stderr)
    if STACK == "ours":
        from eiotransport.server import serve

        listener = eventlet.listen((HOST, PORT), backlog=4096)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        serve(listener, app, max_connections=100_000, header_seconds=10, connections_per_address=0)
    else:
        sio.run(app, host=HOST, port=PORT, log_output=False)
