"""Chaos across nodes (issue 24): the node that owns a game killed mid-game, and Redis restarted
empty mid-game. Each game must go on to its end, both players seeing the same score, its result
stored once (the `games` row, and one win and one loss in the standings)."""

from __future__ import annotations

import time

import psycopg
import pytest
import redis

from tests.net.test_cluster import (  # noqa: F401 - fixtures, used by name
    DYING_NODE_TTL,
    SLACK,
    ChatClient,
    clients,
    nodes,
    prefix,
    private_redis,
    start_game,
    user_list,
)
from tests.support.waiting import eventually

pytestmark = [pytest.mark.net, pytest.mark.timeout(180)]


def stored_once(postgres_url: str, game_id: str, winner: str, loser: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT winner, loser, score FROM games WHERE game_id = %s", (game_id,)
        ).fetchall()
        standings = dict(
            conn.execute(
                "SELECT name, wins + losses + draws FROM standings WHERE name IN (%s, %s)",
                (winner, loser),
            ).fetchall()
        )
    assert len(rows) == 1 and rows[0][:2] == (winner, loser)
    assert standings == {winner: 1, loser: 1}  # counted once for each player


def throw_until_taken(player: ChatClient, game_id: str, move: str, timeout: float) -> None:
    """Throw, again while the game's server is being replaced (refused `unavailable`)."""
    deadline = time.monotonic() + timeout
    while True:
        ack = player.call("throw", {"game_id": game_id, "move": move}, timeout=15)
        if ack["ok"]:
            return
        assert ack["code"] == "unavailable", ack
        assert time.monotonic() < deadline, f"{player.name}'s throw refused until the end: {ack}"
        time.sleep(ack.get("retry_after", 0.5))


def play(game_id: str, number: int, ada: ChatClient, bea: ChatClient, timeout: float) -> dict:
    """Round `number`: Ada throws rock, Bea scissors (Ada wins it)."""
    throw_until_taken(bea, game_id, "scissors", timeout)
    throw_until_taken(ada, game_id, "rock", timeout)
    results = [p.wait_for("round_result", lambda r: r["round"] == number) for p in (ada, bea)]
    assert results[0] == results[1] and results[0]["winner"] == "Ada"
    return results[0]


def test_the_owner_killed_in_round_2_of_5_the_game_goes_on_and_is_stored_once(
    nodes,  # noqa: F811
    clients,  # noqa: F811
    postgres_url,
):
    owner, node_b, node_c = nodes.start(
        3, NODE_TTL_SECONDS=str(DYING_NODE_TTL), RESUME_GRACE_SECONDS="30", ROUND_SECONDS="20"
    )
    bea = clients.join(node_b.url, "Bea")
    ada = clients.join(owner.url, "Ada")
    game_id = start_game(bea, ada, best_of=5)  # Ada completed the pairing: her node owns it
    play(game_id, 1, ada, bea, timeout=5)
    for player in (ada, bea):
        player.wait_for("round_started", lambda r: r["round"] == 2)
    assert bea.call("throw", {"game_id": game_id, "move": "paper"})["ok"]  # forwarded to A
    ada.wait_for("opponent_threw")

    owner.kill()  # SIGKILL, in round 2, Bea's move thrown there

    back = clients.connect(node_c.url, auth={"token": ada.token})  # Ada resumes on node C
    assert back.wait_for("session", timeout=10)["resumed"] is True
    back.name = "Ada"
    state = back.wait_for("game_state", timeout=10)
    assert state["game_id"] == game_id and state["score"] == {"Ada": 1, "Bea": 0}
    # Bea, still connected, keeps the game: round 2 starts again on the node that adopted it
    restarted = bea.wait_for(
        "round_started", lambda r: r.get("restarted") is True, DYING_NODE_TTL + 2 + SLACK
    )
    assert restarted["round"] == 2 and restarted["game_id"] == game_id
    assert bea.received("game_over") == []
    play(game_id, 2, back, bea, timeout=DYING_NODE_TTL + SLACK)  # Bea's paper was lost: again
    play(game_id, 3, back, bea, timeout=5)
    over = [p.wait_for("game_over", timeout=10) for p in (back, bea)]
    assert over[0] == over[1]
    assert over[0] == {
        "game_id": game_id,
        "winner": "Ada",
        "score": {"Ada": 3, "Bea": 0},
        "reason": "won",
    }
    eventually(lambda: stored_once_or_false(postgres_url, game_id), 10, "the result stored")
    time.sleep(DYING_NODE_TTL)  # every node has reaped the dead one by now: no second record
    stored_once(postgres_url, game_id, "Ada", "Bea")
    assert bea.call("games", {})["games"] == []  # no game left behind


def stored_once_or_false(postgres_url: str, game_id: str) -> bool:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT count(*) FROM games WHERE game_id = %s", (game_id,)).fetchone()
    return bool(row and row[0])


def test_a_redis_restart_mid_game_leaves_the_game_going_and_stores_it_once(
    nodes,  # noqa: F811
    clients,  # noqa: F811
    prefix,  # noqa: F811
    postgres_url,
    tmp_path,
):
    with private_redis(tmp_path) as private:
        node_a, node_b = nodes.start(2, REDIS_URL=private.url, ROUND_SECONDS="30")
        bea = clients.join(node_b.url, "Bea")
        ada = clients.join(node_a.url, "Ada")
        game_id = start_game(bea, ada, best_of=3)
        play(game_id, 1, ada, bea, timeout=5)
        for player in (ada, bea):
            player.wait_for("round_started", lambda r: r["round"] == 2)

        private.stop()
        private.start()  # empty: it saved nothing

        # within a tick the owner (node A) writes its game again, and both nodes are back on
        # the message queue and their own channels: Bea's throws reach the owner once more
        nodes.wait_subscribed([node_a, node_b], private.url, f"{prefix}:socketio")
        shared = redis.Redis.from_url(private.url)
        eventually(lambda: len(shared.pubsub_channels(f"{prefix}:to:*")) == 2, 20, "node channels")
        eventually(lambda: shared.exists(f"{prefix}:owner:{game_id}"), 10, "the game rewritten")
        # and the players' names are back (a player with no name when the game is recorded
        # counts as gone: a guest who left gets no standing)
        eventually(lambda: user_list(bea) == ["Ada", "Bea"], 15, "names restored by the nodes")
        listed = bea.call("games", {})
        assert [g["game_id"] for g in listed["games"]] == [game_id], listed
        assert listed["games"][0]["score"] == {"Ada": 1, "Bea": 0}
        play(game_id, 2, ada, bea, timeout=20)
        over = [p.wait_for("game_over", timeout=10) for p in (ada, bea)]
        assert (
            over[0]
            == over[1]
            == {
                "game_id": game_id,
                "winner": "Ada",
                "score": {"Ada": 2, "Bea": 0},
                "reason": "won",
            }
        )
        eventually(lambda: stored_once_or_false(postgres_url, game_id), 10, "the result stored")
        stored_once(postgres_url, game_id, "Ada", "Bea")
        eventually(lambda: bea.call("games", {})["games"] == [], 5, "no game stuck live")
        assert ada.call("find_match", {"best_of": 3})["ok"]  # nobody is left 'in a game'
        assert bea.call("find_match", {"best_of": 3})["ok"]
        again = [p.wait_for("match_found", lambda m: m["game_id"] != game_id) for p in (ada, bea)]
        assert again[0]["game_id"] == again[1]["game_id"]
