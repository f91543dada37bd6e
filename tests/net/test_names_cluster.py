"""Claimed names across nodes and restarts: node processes on one Redis and one PostgreSQL."""

# ruff: noqa: F811 (test_cluster's fixtures, imported, are parameters here)

from __future__ import annotations

import pytest
import socketio

from tests.net.test_cluster import (  # noqa: F401 (fixtures)
    clients,
    eventually,
    nodes,
    prefix,
    refusal,
    user_list,
)
from tests.net.test_moderators import flask_cli

pytestmark = [pytest.mark.net, pytest.mark.timeout(180)]

PASSWORD = "correct horse"
CHEAP = {"PASSWORD_HASH_KIB": "64"}


def test_a_claimed_name_logs_in_on_another_node_as_a_second_connection(nodes, clients):
    node_a, node_b = nodes.start(2, **CHEAP)
    ada = clients.join(node_a.url, "Ada")
    claim = ada.call("claim_name", {"password": PASSWORD})
    assert claim == {"ok": True, "username": "Ada", "device": claim["device"]}
    bea = clients.join(node_b.url, "Bea")
    stranger = clients.connect(node_b.url)
    assert refusal(stranger.call("set_username", {"username": "Ada"})) == (
        "The name 'Ada' is claimed: log in with its password."
    )
    assert refusal(stranger.call("set_username", {"username": "Аda"})) == (
        "'Аda' looks too much like the claimed name 'Ada', which is taken: pick another."
    )
    second = clients.connect(node_b.url)
    ack = second.call("set_username", {"username": "ada", "password": PASSWORD})
    assert ack["ok"] and ack["username"] == "Ada"
    sent = second.say("from the second device")
    assert bea.wait_message("from the second device")["name"] == "Ada"
    assert ada.wait_message("from the second device")["id"] == sent["id"]
    assert ada.connected and user_list(bea) == ["Ada", "Bea"]
    second.disconnect()  # one device leaves: Ada is still online on node A
    assert ada.say("still here")["ok"]
    assert bea.wait_message("still here")["name"] == "Ada"
    assert "Ada has left the chat!" not in bea.texts()


def test_a_look_alike_of_a_name_online_on_another_node_is_refused(nodes, clients):
    node_a, node_b = nodes.start(2, **CHEAP)
    clients.join(node_a.url, "Ada")
    stranger = clients.connect(node_b.url)
    assert refusal(stranger.call("set_username", {"username": "Аda"})) == (
        "'Аda' looks too much like the name 'Ada', which is taken: pick another."
    )


def test_a_claim_survives_a_restart(nodes, clients):
    [node] = nodes.start(1, **CHEAP)
    ada = clients.join(node.url, "Ada")
    assert ada.call("claim_name", {"password": PASSWORD})["ok"]
    ada.close()
    node.stop()
    [node] = nodes.start(1, **CHEAP)
    stranger = clients.connect(node.url)
    assert refusal(stranger.call("set_username", {"username": "Ada", "password": "wrong one"})) == (
        "Wrong password: the name 'Ada' is claimed."
    )
    ack = stranger.call("set_username", {"username": "Ada", "password": PASSWORD})
    assert ack["ok"] and ack["username"] == "Ada"


# ---------------------------------------------------------------- moderation across nodes


def moderator(nodes, clients, url):
    """The operator designates Mod's account (`flask grant`), which then logs in."""
    granted = flask_cli(nodes.env["DATABASE_URL"], "grant", "Mod", "--password-stdin",
                        stdin=PASSWORD)  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    mod = clients.connect(url)
    assert mod.call("set_username", {"username": "Mod", "password": PASSWORD})["ok"]
    return mod


def test_a_moderator_on_one_node_deletes_mutes_and_kicks_on_another(nodes, clients):
    node_a, node_b = nodes.start(2, TRUST_PROXY="1", **CHEAP)
    mod = moderator(nodes, clients, node_a.url)
    # addresses of their own: a mute holds the muted user's address for its guests too
    bea = clients.join(node_b.url, "Bea", headers={"X-Forwarded-For": "203.0.113.1"})
    cyd = clients.join(node_b.url, "Cyd", headers={"X-Forwarded-For": "203.0.113.2"})
    sent = bea.say("abuse")
    assert mod.call("mod_delete", {"id": sent["id"]}) == {"ok": True}
    cyd.wait_for("message_deleted", lambda p: p["id"] == sent["id"])
    assert all(m["id"] != sent["id"] for m in cyd.call("history", {})["messages"])

    assert mod.call("mod_mute", {"name": "Bea", "minutes": 5})["ok"]
    muted = eventually(
        lambda: (ack := bea.call("message", {"msg": "still here?"}))["ok"] is False and ack,
        5,
        "the mute on the other node",
    )
    assert muted["error"].startswith("You are muted until ")

    report = cyd.call("report", {"id": cyd.say("hello")["id"], "reason": "test"})
    assert report == {"ok": True}
    mod.wait_for("report_filed", lambda p: p["reporter"] == "Cyd")

    assert mod.call("mod_kick", {"name": "Bea", "reason": "rude"}) == {"ok": True}
    eventually(lambda: not bea.connected, 5, "Bea disconnected on the other node")
    told = [event for event, _ in bea.events]
    assert "kicked" in told and told.index("kicked") < told.index("disconnect"), told
    assert bea.received("kicked")[0]["reason"] == "rude"
    cyd.wait_message("Bea was removed by a moderator.")
    assert user_list(cyd) == ["Cyd", "Mod"]
    log = mod.call("mod_log", {})["actions"]
    assert [a["action"] for a in log] == ["kick", "mute", "delete", "grant"]


def test_a_ban_survives_a_restart(nodes, clients):
    env = {"TRUST_PROXY": "1", **CHEAP}
    [node] = nodes.start(1, **env)
    mod = moderator(nodes, clients, node.url)
    from_bea = {"X-Forwarded-For": "203.0.113.9"}  # her own address, as a proxy would say
    bea = clients.connect(node.url, headers=from_bea)
    bea.set_name("Bea")
    assert bea.call("claim_name", {"password": PASSWORD})["ok"]
    assert mod.call("mod_ban", {"name": "Bea", "minutes": 60, "reason": "abuse"})["ok"]
    mod.close()
    node.stop()
    [node] = nodes.start(1, **env)
    again = clients.connect(node.url, headers=from_bea, connect=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        again.connect()
    [ban] = again.received("connect_error")
    assert ban["message"].startswith("You are banned until ")
    assert ban["data"]["code"] == "banned" and ban["data"]["retry_after"] > 3500
    # a bad auth is refused before the ban is looked at (docs/protocol.md, "Resuming")
    bad_auth = clients.connect(node.url, headers=from_bea, auth={"last_id": -1}, connect=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        bad_auth.connect()
    assert bad_auth.received("connect_error") == [
        {
            "message": "last_id must be a whole number from 0 to 9223372036854775807.",
            "data": {"code": "bad_request", "field": "last_id"},
        }
    ]
    elsewhere = clients.connect(node.url)  # another address, but the claimed name is banned
    refused = elsewhere.call("set_username", {"username": "Bea", "password": PASSWORD})
    assert refused["ok"] is False and refused["error"].startswith("'Bea' is banned until ")
    assert refused["code"] == "banned"
