"""Claimed names across nodes and restarts: node processes on one Redis and one PostgreSQL."""

# ruff: noqa: F811 (test_cluster's fixtures, imported, are parameters here)

from __future__ import annotations

import pytest

from tests.net.test_cluster import (  # noqa: F401 (fixtures)
    clients,
    eventually,
    nodes,
    prefix,
    refusal,
    user_list,
)

pytestmark = [pytest.mark.net, pytest.mark.timeout(180)]

PASSWORD = "correct horse"
CHEAP = {"PASSWORD_HASH_KIB": "64"}


def test_a_claimed_name_logs_in_on_another_node_as_a_second_connection(nodes, clients):
    node_a, node_b = nodes.start(2, **CHEAP)
    ada = clients.join(node_a.url, "Ada")
    assert ada.call("claim_name", {"password": PASSWORD}) == {"ok": True, "username": "Ada"}
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
