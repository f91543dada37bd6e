"""Direct messages across nodes, resumes and a node killed with SIGKILL: node processes on one
Redis and one PostgreSQL (docs/protocol.md, "Direct messages")."""

# ruff: noqa: F811 (test_cluster's fixtures, imported, are parameters here)

from __future__ import annotations

import time

import pytest

from tests.net.test_cluster import (  # noqa: F401 (fixtures)
    DYING_NODE_TTL,
    clients,
    close_transport_under,
    nodes,
    prefix,
    refusal,
)

pytestmark = [pytest.mark.net, pytest.mark.timeout(180)]

PASSWORD = "correct horse"
CHEAP = {"PASSWORD_HASH_KIB": "64"}


def log_in(clients, url: str, name: str, **options):
    client = clients.connect(url, **options)
    ack = client.call("set_username", {"username": name, "password": PASSWORD})
    assert ack["ok"], ack
    client.name, client.token = ack["username"], ack["token"]
    return client


def dms(client) -> list[dict]:
    return client.received("dm")


def test_a_dm_crosses_nodes_to_every_connection_of_both(nodes, clients):
    node_a, node_b = nodes.start(2, **CHEAP)
    ada = clients.join(node_a.url, "Ada")
    assert ada.call("claim_name", {"password": PASSWORD})["ok"]
    ada_phone = log_in(clients, node_b.url, "Ada")
    bea = clients.join(node_b.url, "Bea")
    cyd = clients.join(node_a.url, "Cyd")
    ack = bea.call("dm", {"to": "Ada", "text": "across", "client_id": "k1"})
    assert ack["ok"]
    wire = {"id": ack["id"], "from": "Bea", "to": "Ada", "text": "across", "ts": ack["ts"]}
    assert ada.wait_for("dm") == wire and ada_phone.wait_for("dm") == wire
    reply = ada.call("dm", {"to": "Bea", "text": "back"})
    assert bea.wait_for("dm", lambda m: m["text"] == "back")["id"] == reply["id"]
    assert ada_phone.wait_for("dm", lambda m: m["text"] == "back")["id"] == reply["id"]
    again = bea.call("dm", {"to": "Ada", "text": "across", "client_id": "k1"})
    assert again == {**ack, "duplicate": True}
    history = ada_phone.call("dm_history", {"with": "Bea"})
    assert [m["text"] for m in history["messages"]] == ["across", "back"]
    time.sleep(0.3)  # a stray copy would be here by now; nothing to wait for otherwise
    assert len(dms(ada)) == 1 and len(dms(ada_phone)) == 2 and len(dms(bea)) == 1
    assert dms(cyd) == [] and dms(bea)[0]["text"] == "back"
    assert cyd.call("dm_history", {"with": "Ada"}) == {
        "ok": True,
        "messages": [],
        "has_more": False,
    }


def test_a_resume_on_another_node_replays_the_missed_dms_once_while_dms_keep_coming(nodes, clients):
    node_a, node_b = nodes.start(2, RESUME_GRACE_SECONDS="30")
    ada = clients.join(node_a.url, "Ada")
    bea = clients.join(node_b.url, "Bea")
    seen = bea.call("dm", {"to": "Ada", "text": "seen"})
    ada.wait_for("dm")
    close_transport_under(ada)  # the network drops: Ada is in her grace period
    sent = [bea.call("dm", {"to": "Ada", "text": f"m{n}"})["id"] for n in range(5)]
    back = clients.connect(node_b.url, auth={"token": ada.token, "dm_last_id": seen["id"]})
    sent += [bea.call("dm", {"to": "Ada", "text": f"m{n}"})["id"] for n in range(5, 20)]
    got = back.wait_for_count("dm", len(sent), timeout=10)
    time.sleep(0.3)  # a repeat would be here by now
    ids = [m["id"] for m in dms(back)]
    assert ids == sent  # every one, once, in order
    assert all(m.get("replayed") for m in got[:5])


def test_a_dm_acked_then_its_node_killed_reaches_the_offline_claimed_name(nodes, clients):
    node_a, node_b = nodes.start(2, NODE_TTL_SECONDS=str(DYING_NODE_TTL), **CHEAP)
    ada = clients.join(node_b.url, "Ada")
    assert ada.call("claim_name", {"password": PASSWORD})["ok"]
    ada.disconnect()  # offline: DMs to her are kept for her next log-in
    bea = clients.join(node_a.url, "Bea")
    acks = [bea.call("dm", {"to": "Ada", "text": f"keep {n}"}) for n in range(3)]
    assert all(ack["ok"] for ack in acks)
    node_a.kill()  # SIGKILL right after the acks: no shutdown, no flush
    back = log_in(clients, node_b.url, "Ada")
    unread = back.wait_for_count("dm", 3)
    assert [m["id"] for m in unread] == [ack["id"] for ack in reversed(acks)]  # newest first
    assert all(m["unread"] is True for m in unread)
    back.disconnect()
    again = log_in(clients, node_b.url, "Ada")
    time.sleep(0.3)
    assert dms(again) == []  # delivered once


def test_a_dm_to_a_guest_who_left_another_node_is_refused(nodes, clients):
    node_a, node_b = nodes.start(2)
    bea = clients.join(node_b.url, "Bea")
    cyd = clients.join(node_a.url, "Cyd")
    assert bea.call("dm", {"to": "Cyd", "text": "hi"})["ok"]
    cyd.disconnect()
    bea.wait_message("Cyd has left the chat!")
    assert refusal(bea.call("dm", {"to": "Cyd", "text": "hi"})) == "Cyd is not online."
