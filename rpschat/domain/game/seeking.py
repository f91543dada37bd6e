"""Quick match by rating (issue 26, point 5): the queue pairs the closest ratings first, within
a window that widens the longer someone waits, and guests with guests first.

Each queued player has a `Seek`: their rating when they asked (a guest's is 1500), whether they
are a guest, and since when they wait. A seek's window is +-100 for its first 5 s, +-200 until
10 s, ... +-600 until 30 s, then anyone (lichess widens its rating range the same way). Two
claimed names fit when their ratings differ by no more than the wider of their two windows:
whoever has waited long takes the newcomer. Guests have no rating to keep close to: they fit
each other at once, and a claimed name once one of the two has waited 5 s (guests with guests
first). Among those that fit, a player takes one of its own kind first, then the closest
rating, then whoever waited longest (so equal ratings, and guests among guests, pair first
come, first served).

A player is paired as they arrive (under the lobby lock, so that two arriving at once see each
other); those left waiting are paired by a sweep every second
(while anyone waits), as their windows widen: two people alone in the queue are paired within
a second of their 30th second, whatever their ratings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.rules import VALID_BEST_OF

WINDOW_START = 100.0  # rating points either side, at first
WINDOW_STEP = 100.0  # added every STEP_SECONDS of waiting
STEP_SECONDS = 5.0
ANYONE_AFTER_SECONDS = 30.0
SWEEP_SECONDS = 1.0
GUEST_RATING = 1500.0


@dataclass(frozen=True)
class Seek:
    name: str
    rating: float
    guest: bool
    since: float  # runtime clock (wall time: every node compares the same)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Seek:
        return cls(**data)


def window(seek: Seek, now: float) -> float:
    """How far from its rating a seek takes an opponent, after waiting since `seek.since`."""
    waited = max(0.0, now - seek.since)
    if waited >= ANYONE_AFTER_SECONDS:
        return math.inf
    return WINDOW_START + WINDOW_STEP * math.floor(waited / STEP_SECONDS)


def fits(a: Seek, b: Seek, now: float) -> bool:
    """Guests fit each other (no rating to keep close to); a guest and a claimed name once one
    of them has waited STEP_SECONDS; two claimed names within the wider window."""
    if a.guest and b.guest:
        return True
    if a.guest != b.guest:
        return now - min(a.since, b.since) >= STEP_SECONDS
    return abs(a.rating - b.rating) <= max(window(a, now), window(b, now))


def best_partner(me: Seek, others: list[Seek], now: float) -> Seek | None:
    """The seek `me` is paired with, if any fits: its own kind first, then the closest rating,
    then the longest waiting."""
    fitting = [o for o in others if o.name != me.name and fits(me, o, now)]
    if not fitting:
        return None
    return min(fitting, key=lambda o: (o.guest != me.guest, abs(o.rating - me.rating), o.since))


def pairs_of(seeks: list[Seek], now: float) -> list[tuple[Seek, Seek]]:
    """Pairs among waiting seeks: the longest waiting first takes its best partner."""
    free = sorted(seeks, key=lambda s: s.since)
    paired: list[tuple[Seek, Seek]] = []
    while free:
        first = free.pop(0)
        partner = best_partner(first, free, now)
        if partner is not None:
            free.remove(partner)
            paired.append((first, partner))
    return paired


class SeekStore(Protocol):
    def put(self, seek: Seek) -> None: ...
    def get_many(self, names: list[str]) -> dict[str, Seek]: ...
    def forget(self, names: list[str]) -> None: ...


class NoSeeks:
    """No store of seeks: everyone counts as a guest, first come, first served."""

    def put(self, seek: Seek) -> None:
        pass

    def get_many(self, names: list[str]) -> dict[str, Seek]:
        return {}

    def forget(self, names: list[str]) -> None:
        pass


class WaitingPlayers(Protocol):
    """What rated pairing needs of the queue (game/matchmaking.py's Matchmaker)."""

    def is_queued(self, player: str) -> bool: ...
    def waiting(self, best_of: int) -> list[str]: ...
    def remove(self, player: str) -> bool: ...
    def wait_again(self, player: str, best_of: int) -> None: ...
    def queued_count(self) -> int: ...


class Starter(Protocol):
    """What it needs of the game: whether a name is in a live game; a match between two names
    (None if either is in one meanwhile); the lobby lock; timers."""

    def in_live_game(self, name: str) -> bool: ...
    def create(self, first: str, second: str, best_of: int) -> Any: ...


class RatedQueue:
    def __init__(
        self,
        queue: WaitingPlayers,
        seeks: SeekStore,
        starter: Starter,
        now: Callable[[], float],
        call_later: Callable[..., Any],
        lobby: Callable[[], Any],
        announce: Callable[[Any], None],
        guarded: Callable[..., Any],
    ) -> None:
        self._queue = queue
        self._seeks = seeks
        self._starter = starter
        self._now = now
        self._call_later = call_later
        self._lobby = lobby
        self._announce = announce
        self._guarded = guarded
        self._sweep: Any = None  # this node's sweep timer, while anyone waits

    def seek(self, name: str, rating: float | None) -> None:
        """`name` asks for a match now: rated `rating`, or a guest (None)."""
        if rating is None:
            self._seeks.put(Seek(name, GUEST_RATING, True, self._now()))
        else:
            self._seeks.put(Seek(name, float(rating), False, self._now()))

    def pair(self, name: str, best_of: int, tries: int, in_game: Refused) -> Any | None:
        """`name` paired with its best partner waiting and their match made, or `name` now
        waits (and the sweep runs). `in_game`: the refusal when `name` is in a game. Under the
        lobby lock: two arriving at once see each other (one waits, the other takes it)."""
        with self._lobby():
            return self._pair(name, best_of, tries, in_game)

    def _pair(self, name: str, best_of: int, tries: int, in_game: Refused) -> Any | None:
        starter = self._starter
        if starter.in_live_game(name):
            raise in_game
        if self._queue.is_queued(name):
            raise Refused(Code.ALREADY_QUEUED, "You are already looking for a match.")
        now = self._now()
        me = self._seeks.get_many([name]).get(name) or Seek(name, GUEST_RATING, True, now)
        for _ in range(tries):
            waiting = [w for w in self._queue.waiting(best_of) if w != name]
            known = self._seeks.get_many(waiting)
            others = [known.get(w) or Seek(w, GUEST_RATING, True, now) for w in waiting]
            partner = best_partner(me, others, now)
            if partner is None:
                break
            if not self._queue.remove(partner.name):
                continue  # taken a moment ago, on another node
            if starter.in_live_game(partner.name):
                continue  # entered a game meanwhile (a challenge): out of the queue
            match = starter.create(partner.name, name, best_of)
            if match is not None:
                self._seeks.forget([partner.name, name])
                self._stop_sweep_if_idle()
                return match
            self._queue.wait_again(partner.name, best_of)
            if starter.in_live_game(name):
                raise in_game
        self._queue.wait_again(name, best_of)
        self.schedule_sweep()
        return None

    # ---- the sweep ---------------------------------------------------------------------------

    def schedule_sweep(self) -> None:
        if self._sweep is None:
            self._sweep = self._call_later(SWEEP_SECONDS, self._tick)

    def _stop_sweep_if_idle(self) -> None:
        """Nobody waits any more: no timer left behind."""
        if self._sweep is not None and self._queue.queued_count() == 0:
            self._sweep.cancel()
            self._sweep = None

    def _tick(self) -> None:
        self._sweep = None
        self._guarded(self.sweep)
        if self._queue.queued_count() > 0:
            self.schedule_sweep()

    def sweep(self) -> None:
        """Pairs those waiting whose windows have widened enough, under the lobby lock."""
        created = []
        with self._lobby():
            now = self._now()
            for best_of in VALID_BEST_OF:
                waiting = self._queue.waiting(best_of)
                if len(waiting) < 2:
                    continue
                known = self._seeks.get_many(waiting)
                seeks = [known.get(w) or Seek(w, GUEST_RATING, True, now) for w in waiting]
                for first, second in pairs_of(seeks, now):
                    match = self._take_pair(first.name, second.name, best_of)
                    if match is not None:
                        created.append(match)
        for match in created:
            self._announce(match)

    def _take_pair(self, first: str, second: str, best_of: int) -> Any | None:
        if not self._queue.remove(first):
            return None
        if not self._queue.remove(second):
            self._queue.wait_again(first, best_of)
            return None
        match = self._starter.create(first, second, best_of)
        if match is None:  # one entered a game meanwhile: the other waits on
            for name in (first, second):
                self._queue.wait_again(name, best_of)  # (not if busy: wait_again checks)
            return None
        self._seeks.forget([first, second])
        return match
