"""Reactions, edits, deletes and the operator's `flask announce` across two nodes on one Redis
and one PostgreSQL (issue 25, points 1, 2, 4 and 8): what a user (or the operator, from another
process) does reaches every page on both nodes."""

# ruff: noqa: F811 (test_cluster's fixtures, imported, are parameters here)

from __future__ import annotations

import time

import pytest

from rpschat.domain.replies import EMOJI
from tests.net.test_cluster import clients, nodes, prefix  # noqa: F401 (fixtures)
from tests.net.test_moderators import flask_cli

pytestmark = [pytest.mark.net, pytest.mark.timeout(180)]


def test_reactions_edits_and_deletes_cross_nodes(nodes, clients):
    node_a, node_b = nodes.start(2)
    ada = clients.join(node_a.url, "Ada")
    bea = clients.join(node_b.url, "Bea")
    cyd = clients.join(node_b.url, "Cyd")
    sent = ada.say("across the cluster")
    bea.wait_for("message", lambda m: m.get("id") == sent["id"])
    ack = bea.call("react", {"id": sent["id"], "emoji": EMOJI[3]})
    assert ack["ok"], ack
    mine = ada.call("react", {"id": sent["id"], "emoji": EMOJI[3]})
    both = [{"emoji": EMOJI[3], "count": 2, "names": ["Bea", "Ada"]}]
    assert mine["reactions"] == both
    for client in (ada, bea, cyd):  # every page, on both nodes, ends with the latest state
        client.wait_for("reactions", lambda r: r["seq"] == mine["seq"])
        assert client.received("reactions")[-1]["reactions"] == both
    assert cyd.call("history", {})["messages"][-1]["reactions"] == both

    edited = ada.call("edit_message", {"id": sent["id"], "text": "edited on node a"})
    assert cyd.wait_for("message_edited")["seq"] == edited["seq"]
    direct = bea.call("dm", {"to": "Ada", "text": "dm across"})
    ada.wait_for("dm", lambda m: m["id"] == direct["id"])
    dm_ack = ada.call("react", {"id": direct["id"], "emoji": EMOJI[0], "dm": True})
    assert bea.wait_for("dm_reactions")["seq"] == dm_ack["seq"]
    gone = ada.call("delete_message", {"id": sent["id"]})
    for client in (bea, cyd):
        assert client.wait_for("message_deleted") == {"id": sent["id"], "seq": gone["seq"]}
    assert cyd.call("history", {})["messages"] == []
    assert cyd.received("dm_reactions") == []


def test_flask_announce_from_another_process_reaches_both_nodes(nodes, clients):
    node_a, node_b = nodes.start(2)
    ada = clients.join(node_a.url, "Ada")
    bea = clients.join(node_b.url, "Bea")
    queue = {"REDIS_URL": nodes.env["REDIS_URL"], "REDIS_PREFIX": nodes.env["REDIS_PREFIX"]}
    done = flask_cli(nodes.env["DATABASE_URL"], "announce", "Maintenance at ten", **queue)
    assert done.returncode == 0, done.stderr
    for client in (ada, bea):
        got = client.wait_for("message", lambda m: m.get("txt") == "Maintenance at ten")
        assert (got["name"], got["announcement"]) == ("Announcement", True)
    assert ada.call("history", {})["messages"][-1]["txt"] == "Maintenance at ten"
    stats = flask_cli(nodes.env["DATABASE_URL"], "stats", **queue)
    assert stats.returncode == 0, stats.stderr
    assert "online: 2" in stats.stdout and "messages_today: 1" in stats.stdout
    log = flask_cli(nodes.env["DATABASE_URL"], "purge", "Ada", "--minutes", "5")
    assert log.returncode == 0 and "Deleted 0 messages" in log.stdout


def test_an_owner_grants_and_revokes_on_another_node_at_once(nodes, clients):
    url = nodes.env["DATABASE_URL"]
    granted = flask_cli(url, "grant", "Olga", "--owner", "--password-stdin", stdin="correct horse")
    assert granted.returncode == 0 and "'Olga' is an owner" in granted.stdout, granted.stderr
    node_a, node_b = nodes.start(2, PASSWORD_HASH_KIB="64")
    olga = clients.connect(node_a.url)
    assert olga.call("set_username", {"username": "Olga", "password": "correct horse"})["ok"]
    bea = clients.join(node_b.url, "Bea")
    assert bea.call("claim_name", {"password": "correct horse"})["ok"]
    assert bea.call("mod_log", {"limit": 1})["code"] == "not_moderator"
    assert olga.call("mod_grant", {"name": "Bea"}) == {"ok": True, "name": "Bea", "granted": True}
    assert bea.wait_for("role_changed") == {"moderator": True, "owner": False}
    assert bea.call("mod_log", {"limit": 1})["actions"][0]["moderator"] == "Olga"
    assert olga.call("mod_revoke", {"name": "Bea"}) == {"ok": True, "name": "Bea"}
    bea.wait_for("role_changed", lambda r: r["moderator"] is False)
    assert bea.call("mod_log", {"limit": 1})["code"] == "not_moderator"


def test_slow_mode_set_on_one_node_holds_on_the_other(nodes, clients):
    url = nodes.env["DATABASE_URL"]
    granted = flask_cli(url, "grant", "Modo", "--password-stdin", stdin="correct horse")
    assert granted.returncode == 0, granted.stderr
    node_a, node_b = nodes.start(2, PASSWORD_HASH_KIB="64", RATE_LIMIT="20/10")
    mod = clients.connect(node_a.url)
    assert mod.call("set_username", {"username": "Modo", "password": "correct horse"})["ok"]
    bea = clients.join(node_b.url, "Bea")
    assert mod.call("mod_slow", {"seconds": 60}) == {"ok": True}
    assert bea.wait_for("slow_mode") == {"seconds": 60}
    time.sleep(1.1)  # each node reads the setting again at most once a second
    assert bea.call("message", {"msg": "one"})["ok"]
    too_soon = bea.call("message", {"msg": "two"})
    assert too_soon["code"] == "slow_mode" and too_soon["retry_after"] > 50
    assert mod.call("mod_slow", {"seconds": 0}) == {"ok": True}
    bea.wait_for("slow_mode", lambda m: m == {"seconds": 0})
    time.sleep(1.1)
    assert bea.call("message", {"msg": "three"})["ok"]
