"""Nothing lost: acked messages survive kill -9, dropped clients get what they missed, resends
are stored once. On SQLite and on PostgreSQL (required under CI=true)."""

import threading
import time

import pytest

from tests.conftest import require_service
from tests.support.clients import ChatClient, joined
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/chat.db"
    url, why_not = request.getfixturevalue("postgres_database")
    require_service("PostgreSQL", url is not None, why_not or "")
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return url


def all_history(client):
    """Every lobby message, paged forwards with `history {after}`."""
    messages, after = [], 0
    while True:
        page = client.call("history", {"after": after, "limit": 200})
        assert page["ok"], page
        messages += page["messages"]
        if not page["has_more"]:
            return messages
        after = page["messages"][-1]["id"]


def stream_until_killed(url, acked, stop):
    """Send numbered messages with acks as fast as acks come back; record each acked one."""
    client = joined(url, "Streamer")
    try:
        number = 0
        while not stop.is_set():
            ack = client.call("message", {"msg": f"m{number}", "client_id": f"c{number}"})
            if ack.get("ok"):
                acked.append((ack["id"], f"m{number}"))
            number += 1
    except Exception:
        pass  # the server died under us: that is the point


def test_kill_9_while_streaming_loses_no_acked_message(database_url):
    env = {"DATABASE_URL": database_url, "RATE_LIMIT": "0"}
    server = ServerProcess(env=env).start()
    acked, stop = [], threading.Event()
    streamer = threading.Thread(target=stream_until_killed, args=(server.url, acked, stop))
    streamer.start()
    deadline = time.monotonic() + 20
    while len(acked) < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # SIGKILL, mid-stream
    stop.set()
    streamer.join(timeout=10)
    server.stop()
    assert len(acked) >= 150, "the stream was too slow to test anything"

    restarted = ServerProcess(env=env, port=server.port).start()
    try:
        reader = joined(restarted.url, "Reader")
        stored = {m["id"]: m for m in all_history(reader)}
        for message_id, text in acked:
            assert message_id in stored, f"acked message {message_id} was lost"
            assert stored[message_id]["txt"] == text and stored[message_id]["name"] == "Streamer"
        ids = list(stored)
        assert ids == sorted(ids)
        reader.close()
    finally:
        restarted.stop()


def close_transport_under(client: ChatClient) -> None:
    """The network drops: the socket closes without a Socket.IO disconnect."""
    client.sio.eio.ws.sock.shutdown(2)


def test_a_dropped_client_misses_nothing_and_gets_no_duplicates(database_url):
    env = {"DATABASE_URL": database_url, "RESUME_GRACE_SECONDS": "30"}
    with ServerProcess(env=env) as server:
        ada = joined(server.url, "Ada")
        bea = joined(server.url, "Bea")
        seen = bea.say("before the drop")["id"]
        ada.wait_message("before the drop")
        close_transport_under(ada)
        missed = [bea.say(f"while away {i}")["id"] for i in range(5)]
        back = ChatClient(server.url, auth={"token": ada.token, "last_id": seen})
        session = back.wait_for("session")
        assert session == {"resumed": True, "username": "Ada", "token": ada.token}
        live = bea.say("after the return")["id"]
        back.wait_message("after the return")
        ids = [m["id"] for m in back.received("message") if m.get("id")]
        assert ids == missed + [live]  # in order, nothing twice, replay before live
        assert all(m.get("replayed") for m in back.received("message")[:5])
        names = [m["txt"] for m in bea.received("message") if m["name"] is None]
        assert names == []  # neither "left" nor "entered" for a resume within the grace period
        back.close(), bea.close(), ada.close()


def test_a_resend_after_a_reconnect_is_stored_and_relayed_once(database_url):
    env = {"DATABASE_URL": database_url, "RESUME_GRACE_SECONDS": "30"}
    with ServerProcess(env=env) as server:
        ada = joined(server.url, "Ada")
        bea = joined(server.url, "Bea")
        first = ada.call("message", {"msg": "only once", "client_id": "k-1"})
        close_transport_under(ada)
        back = ChatClient(server.url, auth={"token": ada.token, "last_id": first["id"]})
        back.wait_for("session")
        again = back.call("message", {"msg": "only once", "client_id": "k-1"})
        assert again == {**first, "duplicate": True}
        bea.say("marker")
        back.wait_message("marker")
        assert bea.texts().count("only once") == 1
        assert [m["txt"] for m in all_history(bea)].count("only once") == 1
        back.close(), bea.close(), ada.close()


def test_a_game_announced_over_is_in_the_results_after_kill_9(database_url):
    """Results are written off the game's hot path, but before `game_over` goes out."""
    env = {"DATABASE_URL": database_url, "RATE_LIMIT": "0"}
    server = ServerProcess(env=env).start()
    ada, bea = joined(server.url, "Ada"), joined(server.url, "Bea")
    for player in (ada, bea):
        assert player.call("find_match", {"best_of": 1}) == {"ok": True}
    game_id = ada.wait_for("match_found")["game_id"]
    assert ada.call("throw", {"game_id": game_id, "move": "rock"})["ok"]
    assert bea.call("throw", {"game_id": game_id, "move": "scissors"})["ok"]
    assert ada.wait_for("game_over")["winner"] == "Ada"
    server.kill()  # SIGKILL, at once after game_over
    ada.close(), bea.close()
    server.stop()

    restarted = ServerProcess(env=env, port=server.port).start()
    try:
        reader = joined(restarted.url, "Reader")
        board = reader.call("leaderboard", {})
        # two guests' rows: provisional ratings, counted and not ranked
        assert (board["players"], board["provisional"]) == ([], 2)
        reader.close()
    finally:
        restarted.stop()
