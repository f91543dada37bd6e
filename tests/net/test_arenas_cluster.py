"""An arena across two nodes on one Redis (issue 26, point 6): a moderator schedules it on one
node, players on both join, they are paired across nodes at once, a win is scored and the
standings reach a watcher on the other node, the arena page shows them."""

# ruff: noqa: F811 (test_cluster's fixtures, imported, are parameters here)

from __future__ import annotations

import time
import urllib.request

import pytest

from tests.net.test_cluster import (  # noqa: F401 (fixtures)
    clients,
    eventually,
    nodes,
    prefix,
)
from tests.net.test_moderators import flask_cli
from tests.support.clients import ChatClient, joined
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.net, pytest.mark.timeout(180)]
PASSWORD = "correct horse battery"


def test_an_arena_runs_across_two_nodes(nodes, clients, postgres_url):
    granted = flask_cli(postgres_url, "grant", "Mod", "--password-stdin", stdin=PASSWORD)
    assert granted.returncode == 0, granted.stderr
    node_a, node_b = nodes.start(2, PASSWORD_HASH_KIB="64")
    mod = clients.connect(node_a.url)
    assert mod.call("set_username", {"username": "Mod", "password": PASSWORD})["ok"]
    lou = clients.join(node_b.url, "Lou")  # in the lobby on the other node
    made = mod.call("arena_create", {"starts_at": int(time.time() * 1000), "minutes": 2,
                                     "best_of": 1})  # fmt: skip
    assert made["ok"], made
    arena_id = made["arena"]["arena_id"]
    assert lou.wait_for("arena_scheduled")["arena_id"] == arena_id
    ada, bea = clients.join(node_a.url, "Ada"), clients.join(node_b.url, "Bea")
    for player in (ada, bea):
        assert player.call("claim_name", {"password": PASSWORD})["ok"]
        assert player.call("arena_join", {"arena_id": arena_id})["ok"]
    assert lou.call("arena_watch", {"arena_id": arena_id})["ok"]
    found = ada.wait_for("match_found", timeout=10)
    assert found["opponent"] == "Bea" and bea.wait_for("match_found")["opponent"] == "Ada"
    assert ada.call("throw", {"game_id": found["game_id"], "move": "paper"})["ok"]
    assert bea.call("throw", {"game_id": found["game_id"], "move": "rock"})["ok"]
    scored = lou.wait_for(
        "arena_standings",
        lambda s: s["standings"] and s["standings"][0]["score"] == 2,
        timeout=10,
    )
    top = scored["standings"][0]
    assert (top["name"], top["wins"], top["played"]) == ("Ada", 1, 1)
    again = ada.wait_for("match_found", lambda m: m["game_id"] != found["game_id"], timeout=10)
    assert again["opponent"] == "Bea"  # nobody else waits: a rematch beats waiting
    import urllib.request

    with urllib.request.urlopen(f"{node_b.url}/arena/{arena_id}", timeout=5) as page:
        assert "Ada" in page.read().decode()


def test_a_finished_arena_and_its_podium_outlive_a_restart_on_sqlite(tmp_path):
    """The embedded default (SQLite, no Redis) keeps live arenas in the process; the finished
    one is in the database, so /arena/<id> still shows its podium after a restart."""
    database_url = f"sqlite:///{tmp_path}/chat.db"
    granted = flask_cli(database_url, "grant", "Mod", "--password-stdin", stdin=PASSWORD)
    assert granted.returncode == 0, granted.stderr
    env = {"DATABASE_URL": database_url, "RATE_LIMIT": "0", "PASSWORD_HASH_KIB": "64"}
    server = ServerProcess(env=env).start()
    try:
        mod = ChatClient(server.url)
        assert mod.call("set_username", {"username": "Mod", "password": PASSWORD})["ok"]
        made = mod.call("arena_create", {"starts_at": int(time.time() * 1000), "minutes": 1,
                                         "best_of": 1})  # fmt: skip
        assert made["ok"], made
        arena_id = made["arena"]["arena_id"]
        ada, bea = joined(server.url, "Ada"), joined(server.url, "Bea")
        for player in (ada, bea):
            assert player.call("claim_name", {"password": PASSWORD})["ok"]
            assert player.call("arena_join", {"arena_id": arena_id})["ok"]
        found = ada.wait_for("match_found", timeout=10)
        assert ada.call("throw", {"game_id": found["game_id"], "move": "paper"})["ok"]
        assert bea.call("throw", {"game_id": found["game_id"], "move": "rock"})["ok"]
        final = ada.wait_for("arena_standings", lambda s: s["status"] == "finished", timeout=90)
        assert [p["name"] for p in final["podium"]] == ["Ada", "Bea"]  # Ada won the first
        for client in (mod, ada, bea):
            client.close()
    finally:
        server.stop()

    restarted = ServerProcess(env=env, port=server.port).start()
    try:
        with urllib.request.urlopen(f"{restarted.url}/arena/{arena_id}", timeout=5) as answer:
            page = answer.read().decode()
        for p in final["podium"]:
            assert f"{p['name']} · {p['score']} points" in page
        reader = joined(restarted.url, "Reader")
        watched = reader.call("arena_watch", {"arena_id": arena_id})
        assert watched["ok"] and watched["arena"]["status"] == "finished", watched
        assert watched["arena"]["podium"] == final["podium"]
        reader.close()
    finally:
        restarted.stop()
