"""Quick match by rating (issue 26, point 5): the closest ratings first, within a window that
widens the longer someone waits (+-100, +-200 after 5 s, ... anyone after 30 s), guests with
guests first; on a held clock, with the shared state in memory and in Redis."""

from __future__ import annotations

import math

import pytest

from rpschat.domain.game.seeking import Seek, best_partner, fits, pairs_of, window
from rpschat.domain.game.standings import new_row
from tests.unit.conftest import HeldClock
from tests.unit.test_game_handlers import OK, Seat
from tests.unit.test_names import CHEAP, PASSWORD

SHARED_STATES = ("memory", "redis")


def test_the_window_widens_every_5_seconds_and_opens_after_30():
    seek = Seek("Ada", 1500, False, since=100.0)
    assert [window(seek, 100 + t) for t in (0, 4.9, 5, 9.9, 10, 29.9)] == [
        100,
        100,
        200,
        200,
        300,
        600,
    ]
    assert window(seek, 130) == math.inf


def test_who_fits_whom_and_who_is_chosen():
    now = 1000.0
    ada = Seek("Ada", 1500, False, now)
    close, far = Seek("Bea", 1580, False, now), Seek("Cyd", 1750, False, now)
    assert fits(ada, close, now) and not fits(ada, far, now)
    assert fits(ada, Seek("Old", 1750, False, now - 15), now)  # its window is +-400 by now
    guest = Seek("Dan", 1500, True, now)
    assert not fits(guest, far, now) and fits(guest, far, now + 5)  # after 5 s of waiting
    assert best_partner(ada, [far, guest, close], now) == close  # own kind, then closest
    other_guest = Seek("Eve", 1500, True, now - 1)
    assert best_partner(guest, [close, other_guest], now) == other_guest  # guests with guests
    older = Seek("Fay", 1580, False, now - 2)
    assert best_partner(ada, [close, older], now) == older  # equal distance: waited longer
    assert pairs_of([ada, far, close, guest], now) == [(ada, close)]
    assert pairs_of([ada, far, close, guest], now + 5) == [(ada, close), (far, guest)]


@pytest.fixture
def harness(harness_factory):
    return harness_factory(**CHEAP)


def rated(harness, name, rating):
    """A claimed name with an established `rating` (its standing written into the store)."""
    seat = Seat(harness, name)
    assert seat.emit("claim_name", {"password": PASSWORD})["ok"]
    user_id = seat.join_ack["token"].partition(".")[0]
    results = harness.services.games._ctx.results
    row = new_row(name, user_id) | {"rating": float(rating), "deviation": 60.0}
    results._standings[name.lower()] = row
    return seat


def ask(seat, best_of=3):
    assert seat.emit("find_match", {"best_of": best_of}) == OK


def opponent(seat):
    found = seat.take("match_found")
    return found[0]["opponent"] if found else None


def test_the_closest_rating_is_paired_first_and_the_window_widens(harness):
    clock = HeldClock(harness.services.runtime)
    ada, bea = rated(harness, "Ada", 1500), rated(harness, "Bea", 1800)
    ask(ada)
    clock.advance(2)
    ask(bea)  # 300 apart: not yet
    assert opponent(ada) is None and opponent(bea) is None
    clock.advance(1)
    cyd = rated(harness, "Cyd", 1560)
    ask(cyd)  # 60 from Ada: at once, Bea waits on
    assert opponent(cyd) == "Ada" and opponent(ada) == "Cyd" and opponent(bea) is None
    dan = rated(harness, "Dan", 1420)
    ask(dan)  # 380 from Bea, whose window (3 s) is +-100
    clock.advance(9)  # 12 s: Dan's window +-300, Bea's (10 s) +-300: not yet
    assert opponent(dan) is None
    clock.advance(4)  # 16 s: Bea has waited 14 s, +-300 still
    assert opponent(dan) is None
    clock.advance(1)  # Bea has waited 15 s: +-400 takes Dan
    assert opponent(dan) == "Bea" and opponent(bea) == "Dan"


def test_two_alone_in_the_queue_are_paired_within_a_second_of_30_s(harness):
    clock = HeldClock(harness.services.runtime)
    ada, bea = rated(harness, "Ada", 900), rated(harness, "Bea", 2600)
    ask(ada), ask(bea)
    clock.advance(29.5)
    assert opponent(ada) is None
    clock.advance(1)  # 30.5 s: anyone, at the next sweep
    assert opponent(ada) == "Bea"
    assert harness.services.games._pairing._rated._sweep is None  # nobody waits: no sweep


def test_guests_pair_with_guests_first(harness):
    clock = HeldClock(harness.services.runtime)
    ada = rated(harness, "Ada", 1500)
    bob, cal = Seat(harness, "Bob"), Seat(harness, "Cal")
    ask(ada)
    ask(bob)  # a guest and a claimed name: not before one has waited 5 s
    assert opponent(bob) is None
    ask(cal)  # guests with guests, at once
    assert opponent(cal) == "Bob" and opponent(ada) is None
    clock.advance(3)
    dan = rated(harness, "Dan", 1550)
    ask(dan)
    assert opponent(dan) == "Ada"
    eve, fay = Seat(harness, "Eve"), rated(harness, "Fay", 1900)
    ask(eve)
    clock.advance(1)
    ask(fay)
    clock.advance(3)
    assert opponent(fay) is None
    clock.advance(1.5)  # Eve has waited 5.5 s: she plays Fay at the next sweep
    assert opponent(fay) == "Eve"
