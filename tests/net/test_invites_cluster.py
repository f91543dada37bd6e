"""Invite links across two nodes on one Redis (issue 26, point 1): a link made on one node is
taken on the other and starts the game; it is single use; another expires (a short
INVITE_TTL_SECONDS) and says so; an open challenge made on one node is pushed to the lobby on
the other."""

# ruff: noqa: F811 (test_cluster's fixtures, imported, are parameters here)

from __future__ import annotations

import pytest

from tests.net.test_cluster import (  # noqa: F401 (fixtures)
    clients,
    eventually,
    nodes,
    prefix,
)

pytestmark = [pytest.mark.net, pytest.mark.timeout(180)]


def test_invites_across_nodes_single_use_and_expiry(nodes, clients):
    node_a, node_b = nodes.start(2, INVITE_TTL_SECONDS="3")
    ada = clients.join(node_a.url, "Ada")
    bea = clients.join(node_b.url, "Bea")
    cyd = clients.join(node_b.url, "Cyd")
    made = ada.call("invite", {"best_of": 1})
    assert made["ok"] and made["url"] == f"{node_a.url}/play/{made['code']}"
    assert bea.call("accept_invite", {"code": made["code"]}) == {"ok": True}
    found = ada.wait_for("match_found")
    assert found["opponent"] == "Bea" and bea.wait_for("match_found")["game_id"] == found["game_id"]
    assert ada.wait_for("invite_accepted") == {"code": made["code"], "by": "Bea", "best_of": 1}
    reuse = cyd.call("accept_invite", {"code": made["code"]})
    assert reuse["code"] == "invite_used"
    # play it out: Ada is free again
    assert ada.call("throw", {"game_id": found["game_id"], "move": "rock"})["ok"]
    assert bea.call("throw", {"game_id": found["game_id"], "move": "paper"})["ok"]
    ada.wait_for("game_over")

    late = ada.call("invite", {"best_of": 3})["code"]
    assert ada.wait_for("invite_ended", timeout=10) == {"code": late, "reason": "expired"}
    assert cyd.call("accept_invite", {"code": late})["code"] == "invite_expired"

    open_one = ada.call("invite", {"best_of": 3, "open": True})["code"]
    pushed = cyd.wait_for("open_challenge", lambda c: c["code"] == open_one)
    assert pushed["action"] == "add" and pushed["from"] == "Ada"
    assert [c["code"] for c in cyd.call("open_challenges", {})["challenges"]] == [open_one]
    assert cyd.call("accept_invite", {"code": open_one}) == {"ok": True}
    assert cyd.wait_for("match_found")["opponent"] == "Ada"
    gone = bea.wait_for("open_challenge", lambda c: c["action"] == "remove")
    assert gone == {"action": "remove", "code": open_one, "reason": "used"}
