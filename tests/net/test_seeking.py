"""Quick match by rating on a real server (issue 26, point 5): the sweep that widens the
windows runs on eventlet's timers. A guest and a claimed name are not paired at once (guests
with guests first), and are paired by the sweep once one of them has waited 5 s; two guests
are paired at once. Two claimed names far apart in rating wait until their window covers the
gap; a newcomer close to one of them is paired with that one first."""

from __future__ import annotations

import sqlite3
import time

import pytest

from rpschat.domain.text import name_key
from tests.support.clients import ClientPool
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


@pytest.fixture
def rated(tmp_path):
    """A server on SQLite, whose standings the test sets (ratings are read at `find_match`)."""
    db = tmp_path / "chat.db"
    env = {"DATABASE_URL": f"sqlite:///{db}", "RATE_LIMIT": "0", "PASSWORD_HASH_KIB": "64"}
    with ServerProcess(env) as srv:
        clients = ClientPool(srv.url)
        yield clients, db
        clients.close()


def set_rating(db, name: str, rating: float) -> None:
    """`name` (claimed) rated `rating`, established (deviation 50), as the server stores it."""
    with sqlite3.connect(db) as conn:
        (user_id,) = conn.execute("SELECT user_id FROM accounts WHERE name = ?", (name,)).fetchone()
        conn.execute("DELETE FROM standings WHERE key = ?", (name_key(name),))
        conn.execute(
            "INSERT INTO standings (key, name, wins, losses, draws, user_id, rating, deviation,"
            " volatility) VALUES (?, ?, 0, 0, 0, ?, ?, 50, 0.06)",
            (name_key(name), name, user_id, rating),
        )
    conn.close()


def test_far_ratings_wait_for_the_window_and_the_closest_pair_first(rated):
    """The window (seeking.py) is +-100, +-200 after 5 s, +-300 after 10 s; the sweep runs every
    second. best_of 1: 1500 and 1750 (gap 250) are paired 10 to 11 s after the first asked.
    best_of 3, at the same time: 1500 and 1750 wait; 5.5 s on, the 1500's window (+-200) takes a
    1700 as the 1750's does: the newcomer is paired with the closest, the 1750, not with the
    1500 who waited longest."""
    pool, db = rated
    ratings = {"Hal": 1500, "Kim": 1750, "Ned": 1500, "Ola": 1750, "Lou": 1700}
    players = {name: pool.join(name) for name in ratings}
    for name, rating in ratings.items():
        assert players[name].call("claim_name", {"password": PASSWORD})["ok"]
        set_rating(db, name, rating)
    hal, kim, ned, ola, lou = players.values()

    asked = time.monotonic()
    for player, best_of in ((hal, 1), (kim, 1), (ned, 3), (ola, 3)):
        assert player.call("find_match", {"best_of": best_of}) == {"ok": True}
    time.sleep(max(0.0, asked + 5.5 - time.monotonic()))  # the rule's own wait: windows +-200
    for player in (hal, kim, ned, ola):
        assert player.received("match_found") == []  # 250 apart: not yet

    assert lou.call("find_match", {"best_of": 3}) == {"ok": True}
    assert lou.wait_for("match_found", timeout=2)["opponent"] == "Ola"  # 50 apart, not 200
    assert ola.wait_for("match_found", timeout=2)["opponent"] == "Lou"
    assert ned.received("match_found") == []

    found = hal.arrival_of("match_found", timeout=10) - asked
    assert hal.received("match_found")[0]["opponent"] == "Kim"
    # +-300 from 10 s on (the server's clock starts after `asked`), then the next sweep (1 s)
    assert 10 <= found <= 10 + 1 + 1.5, found
    assert ned.received("match_found") == []  # alone in its queue: waits on
