"""Reactions, edits and deletes across two nodes on one Redis and one PostgreSQL (issue 25,
points 1, 2 and 4): what a user does on one node reaches every page on the other."""

# ruff: noqa: F811 (test_cluster's fixtures, imported, are parameters here)

from __future__ import annotations

import pytest

from rpschat.domain.replies import EMOJI
from tests.net.test_cluster import clients, nodes, prefix  # noqa: F401 (fixtures)

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
