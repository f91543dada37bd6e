"""Quick match by rating on a real server (issue 26, point 5): the sweep that widens the
windows runs on eventlet's timers. A guest and a claimed name are not paired at once (guests
with guests first), and are paired by the sweep once one of them has waited 5 s; two guests
are paired at once."""

from __future__ import annotations

import time

import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.net
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server():
    env = {"DATABASE_URL": "memory://", "RATE_LIMIT": "0", "PASSWORD_HASH_KIB": "64"}
    with ServerProcess(env) as srv:
        yield srv


def test_a_guest_waits_for_a_guest_first_then_the_sweep_pairs_across(pool):
    ada, bea = pool.join("Ada"), pool.join("Bea")
    assert ada.call("claim_name", {"password": PASSWORD})["ok"]
    asked = time.monotonic()
    assert ada.call("find_match", {"best_of": 1}) == {"ok": True}
    assert bea.call("find_match", {"best_of": 1}) == {"ok": True}
    time.sleep(2)
    assert ada.received("match_found") == []  # a claimed name and a guest: not yet
    found = bea.wait_for("match_found", timeout=10)
    waited = time.monotonic() - asked
    assert found["opponent"] == "Ada" and waited >= 5  # by the sweep, once Ada waited 5 s
    cyd, dan = pool.join("Cyd"), pool.join("Dan")
    assert cyd.call("find_match", {"best_of": 3}) == {"ok": True}
    assert dan.call("find_match", {"best_of": 3}) == {"ok": True}
    assert dan.wait_for("match_found", timeout=2)["opponent"] == "Cyd"  # guests: at once
