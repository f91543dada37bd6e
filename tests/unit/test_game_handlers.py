"""The game's handlers through Flask-SocketIO's test client.

The contract is docs/protocol.md, section "Rock-paper-scissors"."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpschat.domain.errors import Code
from rpschat.domain.game.context import game_key
from rpschat.domain.game.match import Match
from rpschat.domain.ratelimit import RateSpec
from rpschat.web.events import INTERNAL_ERROR
from tests.support.refusals import error_event, refused
from tests.unit.conftest import Harness, HeldClock, received

# Every test here runs with the shared state in memory and in Redis (tests/unit/conftest.py).
SHARED_STATES = ("memory", "redis")

OK = {"ok": True}
# The lobby's events: the game tests look past them.
CHAT_EVENTS = {"message", "presence", "typing", "history", "session"}


class Seat:
    """A named client and what it has received, so a test can read events in any order."""

    def __init__(self, harness: Harness, name: str):
        self.harness = harness
        self.name = name
        self.client, self.join_ack = harness.join(name)
        self.inbox: list[tuple[str, Any]] = []

    def emit(self, event: str, payload: Any = None) -> dict:
        return self.client.emit(event, payload, callback=True)

    def pull(self) -> list[tuple[str, Any]]:
        self.inbox += [(e, p) for e, p in received(self.client) if e not in CHAT_EVENTS]
        return self.inbox

    def take(self, event: str) -> list[Any]:
        """The payloads of `event` received so far, removed from the inbox."""
        self.pull()
        taken = [payload for name, payload in self.inbox if name == event]
        self.inbox = [(name, payload) for name, payload in self.inbox if name != event]
        return taken

    def wait_for(self, event: str, count: int = 1, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while sum(name == event for name, _ in self.pull()) < count:
            assert time.monotonic() < deadline, f"{self.name} did not get {count} {event}"
            time.sleep(0.01)
        return self.take(event)

    def names(self) -> list[str]:
        return [name for name, _ in self.pull()]

    def resume(self, last_id: int | None = None) -> None:
        """Reconnect with the token from set_username (after `harness.drop`)."""
        auth = {"token": self.join_ack["token"]}
        if last_id is not None:
            auth["last_id"] = last_id
        self.client = self.harness.client(auth=auth)
        self.inbox = []


def find_match(seats: list[Seat], best_of: int = 3) -> str:
    for seat in seats:
        assert seat.emit("find_match", {"best_of": best_of}) == OK
    [found] = seats[0].take("match_found")
    return found["game_id"]


def start_game(harness: Harness, best_of: int = 3, names=("Ada", "Bea")):
    ada, bea = Seat(harness, names[0]), Seat(harness, names[1])
    game_id = find_match([ada, bea], best_of)
    for seat in (ada, bea):
        seat.take("match_found"), seat.take("round_started")
    return ada, bea, game_id


def play_round(game_id: str, *throws: tuple[Seat, str]) -> None:
    for seat, move in throws:
        assert seat.emit("throw", {"game_id": game_id, "move": move}) == OK


def live_players(harness: Harness) -> Counter:
    games = harness.services.games._ctx.store.live_games()
    return Counter(match.name_of(player) for match in games for player in match.players)


# ---- a whole match ---------------------------------------------------------------------------


def test_a_best_of_three_from_find_match_to_game_over(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    assert ada.emit("find_match", {"best_of": 3}) == OK
    assert ada.names() == []  # waiting
    assert bea.emit("find_match", {"best_of": 3}) == OK
    [to_ada], [to_bea] = ada.take("match_found"), bea.take("match_found")
    game_id = to_ada["game_id"]
    assert to_ada == {
        "game_id": game_id,
        "opponent": "Bea",
        "best_of": 3,
        "players": ["Ada", "Bea"],
        "round_seconds": 15.0,
    }
    assert to_bea == {**to_ada, "opponent": "Ada"}
    for seat in (ada, bea):
        [started] = seat.take("round_started")
        assert started["game_id"] == game_id and started["round"] == 1
        assert 14_000 < started["time_left_ms"] <= 15_000

    play_round(game_id, (ada, "rock"))
    assert bea.pull() == [("opponent_threw", {"game_id": game_id})]  # which move: not told
    assert ada.pull() == []
    bea.take("opponent_threw")
    play_round(game_id, (bea, "Scissors "))
    first = {
        "game_id": game_id,
        "round": 1,
        "moves": {"Ada": "rock", "Bea": "scissors"},
        "winner": "Ada",
        "score": {"Ada": 1, "Bea": 0},
        "timeout": False,
    }
    for seat in (ada, bea):
        assert seat.take("round_result") == [first]
        assert [s["round"] for s in seat.take("round_started")] == [2]
    assert ada.names() == []  # the second thrower's opponent gets no opponent_threw

    play_round(game_id, (bea, "rock"), (ada, "paper"))
    assert ada.take("opponent_threw") == [{"game_id": game_id}]
    over = {"game_id": game_id, "winner": "Ada", "score": {"Ada": 2, "Bea": 0}, "reason": "won"}
    for seat in (ada, bea):
        assert [r["winner"] for r in seat.take("round_result")] == ["Ada"]
        assert seat.take("game_over") == [over]
        assert seat.names() == []  # no round 3
    assert live_players(harness) == Counter()


def test_drawn_rounds_are_replayed_and_do_not_count(harness):
    ada, bea, game_id = start_game(harness, best_of=1)
    play_round(game_id, (ada, "rock"), (bea, "rock"))
    [draw] = ada.take("round_result")
    assert draw["winner"] is None and draw["score"] == {"Ada": 0, "Bea": 0}
    assert [s["round"] for s in ada.take("round_started")] == [2]
    play_round(game_id, (ada, "paper"), (bea, "scissors"))
    [over] = ada.take("game_over")
    assert over["winner"] == "Bea" and over["score"] == {"Ada": 0, "Bea": 1}


def test_best_of_defaults_to_three_and_accepts_a_digit_string(harness):
    ada, bea, cyd, dan = (Seat(harness, n) for n in ("Ada", "Bea", "Cyd", "Dan"))
    assert ada.emit("find_match", {}) == OK
    assert bea.emit("find_match", {"best_of": "3"}) == OK
    assert ada.take("match_found")[0]["best_of"] == 3
    assert cyd.emit("find_match", {"best_of": 5}) == OK
    assert dan.emit("find_match", {"best_of": 1}) == OK
    assert cyd.take("match_found") == [] and dan.take("match_found") == []  # other queues


# ---- refusals --------------------------------------------------------------------------------


@pytest.fixture
def game(harness):
    ada, bea, game_id = start_game(harness)
    return harness, ada, bea, game_id


@pytest.mark.parametrize(
    ("move", "reason"),
    [
        ("lizard", "Unknown move 'lizard': choose rock, paper or scissors."),
        ("", "Unknown move '': choose rock, paper or scissors."),
        (None, "A move must be one of rock, paper or scissors."),
        (3, "A move must be one of rock, paper or scissors."),
        (["rock"], "A move must be one of rock, paper or scissors."),
    ],
)
def test_unknown_moves_are_refused(game, move, reason):
    _, ada, bea, game_id = game
    assert ada.emit("throw", {"game_id": game_id, "move": move}) == refused(
        reason, Code.BAD_REQUEST
    )
    assert bea.names() == []  # nothing thrown


def test_a_second_move_in_a_round_is_refused(game):
    _, ada, _, game_id = game
    play_round(game_id, (ada, "rock"))
    ack = ada.emit("throw", {"game_id": game_id, "move": "paper"})
    assert ack == refused("You already threw this round.", Code.ALREADY_THREW)


def test_throwing_in_someone_elses_game_is_refused(game):
    harness, _, bea, game_id = game
    cyd = Seat(harness, "Cyd")
    ack = cyd.emit("throw", {"game_id": game_id, "move": "rock"})
    assert ack == refused("You are not playing in this game.", Code.NOT_A_PLAYER)
    assert bea.names() == []


@pytest.mark.parametrize("game_id", ["nope", 42, None, ["g"], ""])
def test_unknown_games_are_refused(game, game_id):
    _, ada, _, _ = game
    for event in ("throw", "leave_game", "rematch", "watch", "game_chat"):
        ack = ada.emit(event, {"game_id": game_id, "move": "rock", "msg": "hi"})
        assert ack == refused("No such game.", Code.NO_SUCH_GAME), event


def test_a_throw_after_the_end_is_refused(game):
    _, ada, bea, game_id = game
    assert ada.emit("leave_game", {"game_id": game_id}) == OK
    ack = bea.emit("throw", {"game_id": game_id, "move": "rock"})
    assert ack == refused("This game is over.", Code.GAME_OVER)


def test_a_throw_after_the_deadline_is_refused_and_settles_the_round(game):
    harness, ada, bea, game_id = game
    play_round(game_id, (bea, "paper"))
    late = time.time() + 16  # round_seconds is 15: the round timer is still asleep
    harness.services.runtime.now = lambda: late
    ack = ada.emit("throw", {"game_id": game_id, "move": "rock"})
    assert ack == refused("Time is up for this round.", Code.TIME_IS_UP)
    for seat in (ada, bea):
        [result] = seat.take("round_result")
        assert result["moves"] == {"Ada": None, "Bea": "paper"} and result["timeout"] is True
        assert [s["round"] for s in seat.take("round_started")] == [2]


def test_find_match_twice_or_while_playing_is_refused(harness):
    ada, bea, cyd = (Seat(harness, n) for n in ("Ada", "Bea", "Cyd"))
    assert cyd.emit("find_match", {"best_of": 5}) == OK
    again = cyd.emit("find_match", {"best_of": 5})
    assert again == refused("You are already looking for a match.", Code.ALREADY_QUEUED)
    find_match([ada, bea])
    playing = ada.emit("find_match", {"best_of": 5})
    assert playing == refused("You are already in a game.", Code.IN_GAME)
    assert cyd.take("match_found") == []


@pytest.mark.parametrize("best_of", [0, 2, 4, 7, -1, 3.0, True, "three", "", [3], {"n": 3}])
def test_bad_best_of_is_refused(harness, best_of):
    ada = Seat(harness, "Ada")
    for event, payload in (("find_match", {}), ("challenge", {"to": "Bea"})):
        ack = ada.emit(event, {**payload, "best_of": best_of})
        assert ack == refused("best_of must be 1, 3 or 5.", Code.BAD_REQUEST), event


SHAPES = {
    "find_match": "{best_of: 3}",
    "throw": '{game_id: "g7Hk", move: "rock"}',
    "leave_game": '{game_id: "g7Hk"}',
    "challenge": '{to: "Bea", best_of: 3}',
    "answer_challenge": '{challenge_id: "c1", accept: true}',
    "rematch": '{game_id: "g7Hk"}',
    "watch": '{game_id: "g7Hk"}',
    "game_chat": '{game_id: "g7Hk", msg: "gg"}',
}


@pytest.mark.parametrize("event", sorted(SHAPES))
@pytest.mark.parametrize("payload", [None, "rock", 3, ["g1", "rock"], True])
def test_payloads_that_are_not_objects_are_refused_with_the_expected_shape(harness, event, payload):
    ada = Seat(harness, "Ada")
    reason = f"Send an object like {SHAPES[event]}."
    assert ada.emit(event, payload) == refused(reason, Code.BAD_REQUEST)


@pytest.mark.parametrize("event", ["cancel_match", "games", "leaderboard"])
def test_events_without_fields_ignore_their_payload(harness, event):
    ada = Seat(harness, "Ada")
    assert ada.emit("find_match", {}) == OK
    assert ada.emit(event, "whatever")["ok"] is True


# A payload of each event that is well formed (the game and the challenge need not exist).
WELL_FORMED = {
    "find_match": {"best_of": 3},
    "throw": {"game_id": "g", "move": "rock"},
    "leave_game": {"game_id": "g"},
    "challenge": {"to": "Bea", "best_of": 3},
    "answer_challenge": {"challenge_id": "c1", "accept": True},
    "rematch": {"game_id": "g"},
    "watch": {"game_id": "g"},
    "game_chat": {"game_id": "g", "msg": "gg"},
    "cancel_match": {},
    "games": {},
    "leaderboard": {},
    "my_games": {},
}


@pytest.mark.parametrize("event", sorted(WELL_FORMED))
def test_every_game_event_needs_a_name(harness, event):
    anonymous = harness.client()
    ack = anonymous.emit(event, WELL_FORMED[event], callback=True)
    assert ack == refused("Pick a name before you play.", Code.NAME_REQUIRED)


@pytest.mark.parametrize("event", sorted(SHAPES))
def test_the_payload_is_read_before_the_name_is_checked(harness, event):
    """docs/protocol.md, "Payloads": the payload's shape is refused first."""
    anonymous = harness.client()
    ack = anonymous.emit(event, ["not", "an", "object"], callback=True)
    assert ack == refused(f"Send an object like {SHAPES[event]}.", Code.BAD_REQUEST)


def test_a_refusal_without_an_ack_comes_as_an_error_event(harness):
    ada = Seat(harness, "Ada")
    ada.client.emit("throw", {"game_id": "nope", "move": "rock"})
    assert ada.take("error") == [error_event("throw", "No such game.", Code.NO_SUCH_GAME)]


def test_cancel_match_leaves_the_queue(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    assert ada.emit("find_match", {}) == OK
    assert ada.emit("cancel_match", {}) == OK
    assert ada.emit("cancel_match", {}) == refused(
        "You are not looking for a match.", Code.NOT_QUEUED
    )
    assert bea.emit("find_match", {}) == OK
    assert ada.take("match_found") == [] and bea.take("match_found") == []


def test_no_renaming_during_a_game_or_while_queued(game):
    harness, ada, _, _ = game
    cyd = Seat(harness, "Cyd")
    assert cyd.emit("find_match", {}) == OK
    refusal = "You can't change your name during a game or while looking for one."
    for seat in (ada, cyd):
        ack = seat.emit("set_username", {"username": "Zed"})
        assert ack == refused(refusal, Code.RENAME_WHILE_PLAYING)


def test_game_events_are_rate_limited(harness_factory):
    harness = harness_factory(other_rate=RateSpec(3, 60.0))
    ada = Seat(harness, "Ada")
    acks = [ada.emit("games", {}) for _ in range(4)]
    assert [a["ok"] for a in acks] == [True, True, True, False]
    assert acks[-1]["error"].startswith("You are sending too fast: wait ")


# ---- leaving, timeouts, abandoning -----------------------------------------------------------


def test_leave_game_forfeits_to_the_opponent(game):
    harness, ada, bea, game_id = game
    play_round(game_id, (bea, "rock"), (ada, "paper"))
    assert bea.emit("leave_game", {"game_id": game_id}) == OK
    over = {"game_id": game_id, "winner": "Ada", "score": {"Ada": 1, "Bea": 0}, "reason": "forfeit"}
    assert ada.take("game_over") == [over]
    assert bea.take("game_over") == [over]  # the leaver too
    assert live_players(harness) == Counter()
    assert ada.emit("find_match", {}) == OK  # free to play again


def test_a_player_who_does_not_throw_in_time_loses_the_round(harness_factory):
    harness = harness_factory(round_seconds=0.3)
    clock = HeldClock(harness.services.runtime)
    ada, bea, game_id = start_game(harness, best_of=3)
    play_round(game_id, (ada, "rock"))
    clock.advance(0.29)
    assert bea.take("round_result") == []  # not yet
    clock.advance(0.01)
    [result] = bea.take("round_result")
    assert result["moves"] == {"Ada": "rock", "Bea": None}
    assert result["winner"] == "Ada" and result["timeout"] is True
    assert result["score"] == {"Ada": 1, "Bea": 0}
    assert [s["round"] for s in bea.take("round_started")] == [2]
    play_round(game_id, (bea, "rock"), (ada, "paper"))
    [over] = ada.take("game_over")
    assert over == {"game_id": game_id, "winner": "Ada", "score": {"Ada": 2, "Bea": 0}} | {
        "reason": "won"
    }


def test_a_timeout_at_match_point_ends_the_game(harness_factory):
    harness = harness_factory(round_seconds=0.2)
    clock = HeldClock(harness.services.runtime)
    ada, bea, game_id = start_game(harness, best_of=1)
    play_round(game_id, (bea, "paper"))
    clock.advance(0.2)
    [over] = ada.take("game_over")
    assert over == {"game_id": game_id, "winner": "Bea", "score": {"Ada": 0, "Bea": 1}} | {
        "reason": "timeout"
    }
    assert [r["moves"] for r in ada.take("round_result")] == [{"Ada": None, "Bea": "paper"}]


def test_a_match_where_neither_plays_is_abandoned_and_a_draw(harness_factory):
    harness = harness_factory(round_seconds=0.2)
    ada, bea, game_id = start_game(harness)
    [over] = bea.wait_for("game_over")
    assert over == {"game_id": game_id, "winner": None, "score": {"Ada": 0, "Bea": 0}} | {
        "reason": "abandoned"
    }
    assert ada.wait_for("game_over") == [over]
    assert ada.take("round_result") == []
    assert [standing(harness, n)["draws"] for n in ("Ada", "Bea")] == [1, 1]


# ---- dropped connections ---------------------------------------------------------------------


def test_a_player_gone_past_the_grace_period_loses_by_disconnect(harness_factory):
    harness = harness_factory(resume_grace_seconds=0.2)
    ada, bea, game_id = start_game(harness)
    harness.drop(bea.client)
    [away] = ada.take("opponent_status")
    assert away == {"game_id": game_id, "name": "Bea", "connected": False, "grace_ms": 200}
    [over] = ada.wait_for("game_over")
    assert over["winner"] == "Ada" and over["reason"] == "disconnect"
    assert live_players(harness) == Counter()


def test_a_deliberate_disconnect_forfeits_at_once(game):
    _, ada, bea, game_id = game
    bea.client.disconnect()
    [over] = ada.take("game_over")
    assert over == {"game_id": game_id, "winner": "Ada", "score": {"Ada": 0, "Bea": 0}} | {
        "reason": "disconnect"
    }


def test_a_dropped_player_who_resumes_gets_the_game_back_and_finishes_it(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0)
    ada, bea, game_id = start_game(harness, best_of=1)
    play_round(game_id, (ada, "rock"))
    bea.take("opponent_threw")
    harness.drop(ada.client)
    assert bea.take("opponent_status")[0]["connected"] is False
    ada.resume()
    [state] = ada.take("game_state")
    assert state["game_id"] == game_id and state["players"] == ["Ada", "Bea"]
    assert state["your_move"] == "rock" and state["round"] == 1 and state["status"] == "playing"
    assert state["thrown"] == {"Ada": True, "Bea": False}
    assert 0 < state["time_left_ms"] <= 15_000
    assert bea.take("opponent_status") == [{"game_id": game_id, "name": "Ada", "connected": True}]
    play_round(game_id, (bea, "paper"))
    [over] = ada.take("game_over")  # the new connection is in the game's room
    assert over["winner"] == "Bea" and over["reason"] == "won"
    assert [r["moves"] for r in ada.take("round_result")] == [{"Ada": "rock", "Bea": "paper"}]


def test_the_opponents_pending_move_is_not_in_the_resumed_state(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0)
    ada, bea, game_id = start_game(harness)
    play_round(game_id, (bea, "scissors"))
    harness.drop(ada.client)
    ada.resume()
    [state] = ada.take("game_state")
    assert state["your_move"] is None and state["thrown"] == {"Ada": False, "Bea": True}
    assert "scissors" not in repr(state)


def test_a_dropped_player_leaves_the_queue_until_they_resume(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0)
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    assert ada.emit("find_match", {}) == OK
    harness.drop(ada.client)
    assert bea.emit("find_match", {}) == OK
    assert bea.take("match_found") == []  # not paired with someone who cannot hear it
    ada.resume()
    assert ada.take("match_found")[0]["opponent"] == "Bea"
    assert bea.take("match_found")[0]["opponent"] == "Ada"


# ---- challenges ------------------------------------------------------------------------------


def test_a_challenge_accepted_starts_the_match(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    ack = ada.emit("challenge", {"to": "bea", "best_of": 5})
    assert ack["ok"] is True and isinstance(ack["challenge_id"], str)
    [offer] = bea.take("challenged")
    assert offer == {
        "challenge_id": ack["challenge_id"],
        "from": "Ada",
        "best_of": 5,
        "expires_in_ms": 30_000,
    }
    assert bea.emit("answer_challenge", {"challenge_id": ack["challenge_id"], "accept": True}) == OK
    answered = {"challenge_id": ack["challenge_id"], "accepted": True, "by": "Bea"}
    assert ada.take("challenge_answered") == [answered | {"reason": "accepted"}]
    [found_a], [found_b] = ada.take("match_found"), bea.take("match_found")
    assert found_a["best_of"] == found_b["best_of"] == 5
    assert found_a["game_id"] == found_b["game_id"] and found_a["opponent"] == "Bea"
    again = bea.emit("answer_challenge", {"challenge_id": ack["challenge_id"], "accept": True})
    assert again == refused("No such challenge.", Code.NO_SUCH_CHALLENGE)


def test_a_declined_challenge_tells_the_challenger(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    challenge_id = ada.emit("challenge", {"to": "Bea"})["challenge_id"]
    assert bea.emit("answer_challenge", {"challenge_id": challenge_id, "accept": False}) == OK
    assert ada.take("challenge_answered") == [
        {"challenge_id": challenge_id, "accepted": False, "by": "Bea", "reason": "declined"}
    ]
    assert ada.take("match_found") == []


def test_an_unanswered_challenge_expires(harness_factory):
    harness = harness_factory(challenge_seconds=0.2)
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    challenge_id = ada.emit("challenge", {"to": "Bea"})["challenge_id"]
    expired = {"challenge_id": challenge_id, "accepted": False, "by": "Bea", "reason": "expired"}
    assert ada.wait_for("challenge_answered") == [expired]
    assert bea.take("challenge_answered") == []  # its offer said when it expires
    late = bea.emit("answer_challenge", {"challenge_id": challenge_id, "accept": True})
    assert late == refused("That challenge has expired.", Code.CHALLENGE_EXPIRED)
    assert ada.emit("challenge", {"to": "Bea"})["ok"] is True  # a new one may follow


def test_a_pending_challenge_is_offered_again_after_a_resume(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0)
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    challenge_id = ada.emit("challenge", {"to": "Bea", "best_of": 1})["challenge_id"]
    harness.drop(bea.client)
    bea.resume()
    [offer] = bea.take("challenged")
    assert offer["challenge_id"] == challenge_id and offer["from"] == "Ada"
    assert 0 < offer["expires_in_ms"] <= 30_000
    assert bea.emit("answer_challenge", {"challenge_id": challenge_id, "accept": True}) == OK
    assert ada.take("match_found")[0]["best_of"] == 1


def test_a_challenge_to_someone_who_leaves_is_answered_gone(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    challenge_id = ada.emit("challenge", {"to": "Bea"})["challenge_id"]
    bea.client.disconnect()
    assert ada.take("challenge_answered") == [
        {"challenge_id": challenge_id, "accepted": False, "by": "Bea", "reason": "gone"}
    ]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"to": "Ada"}, "You can't challenge yourself."),
        ({"to": " ADA "}, "You can't challenge yourself."),
        ({"to": "Zed"}, "Zed is not online."),
        ({"to": "z" * 40}, "z" * 32 + " is not online."),
        ({"to": ""}, 'Send an object like {to: "Bea", best_of: 3}.'),
        ({"to": 7}, 'Send an object like {to: "Bea", best_of: 3}.'),
        ({}, 'Send an object like {to: "Bea", best_of: 3}.'),
    ],
)
def test_bad_challenges_are_refused(harness, payload, reason):
    ada = Seat(harness, "Ada")
    Seat(harness, "Bea")
    assert ada.emit("challenge", payload) == refused(reason)


def test_challenge_refusals_between_players(harness):
    ada, bea, cyd, dan = (Seat(harness, n) for n in ("Ada", "Bea", "Cyd", "Dan"))
    challenge_id = ada.emit("challenge", {"to": "Bea"})["challenge_id"]
    assert ada.emit("challenge", {"to": "Bea"}) == refused(
        "You already challenged Bea.", Code.ALREADY_CHALLENGED
    )
    assert bea.emit("challenge", {"to": "Ada"}) == refused(
        "Ada has already challenged you: accept it instead.", Code.CHALLENGED_YOU
    )
    for answer in (True, False):
        ack = cyd.emit("answer_challenge", {"challenge_id": challenge_id, "accept": answer})
        verb = "accept" if answer else "decline"
        assert ack == refused(f"Only Bea can {verb} this challenge.", Code.NOT_CHALLENGED)
    for payload in ({"challenge_id": challenge_id, "accept": "yes"}, {"challenge_id": 1}):
        ack = bea.emit("answer_challenge", payload)
        assert ack == refused("accept must be true or false.", Code.BAD_REQUEST)
    ack = bea.emit("answer_challenge", {"challenge_id": 5, "accept": True})
    assert ack == refused("No such challenge.", Code.NO_SUCH_CHALLENGE)
    find_match([cyd, dan])
    assert ada.emit("challenge", {"to": "Cyd"}) == refused(
        "Cyd is already in a game.", Code.OPPONENT_BUSY
    )
    assert cyd.emit("challenge", {"to": "Ada"}) == refused(
        "You are already in a game.", Code.IN_GAME
    )


def test_a_queued_player_who_accepts_a_challenge_leaves_the_queue(harness):
    ada, bea, cyd = (Seat(harness, n) for n in ("Ada", "Bea", "Cyd"))
    assert ada.emit("find_match", {"best_of": 5}) == OK
    challenge_id = bea.emit("challenge", {"to": "Ada"})["challenge_id"]
    assert ada.emit("answer_challenge", {"challenge_id": challenge_id, "accept": True}) == OK
    assert ada.emit("cancel_match", {}) == refused(
        "You are not looking for a match.", Code.NOT_QUEUED
    )
    assert cyd.emit("find_match", {"best_of": 5}) == OK
    assert cyd.take("match_found") == []
    assert live_players(harness) == Counter({"Ada": 1, "Bea": 1})


def test_accepting_when_the_challenger_is_in_a_game_is_refused(harness):
    ada, bea, cyd = (Seat(harness, n) for n in ("Ada", "Bea", "Cyd"))
    challenge_id = ada.emit("challenge", {"to": "Bea"})["challenge_id"]
    ada.emit("find_match", {}), cyd.emit("find_match", {})
    ack = bea.emit("answer_challenge", {"challenge_id": challenge_id, "accept": True})
    assert ack == refused("Ada is already in a game.", Code.OPPONENT_BUSY)
    assert live_players(harness) == Counter({"Ada": 1, "Cyd": 1})


# ---- rematches -------------------------------------------------------------------------------


def finish(ada: Seat, bea: Seat, game_id: str) -> None:
    """Ada wins a best-of-1."""
    play_round(game_id, (ada, "rock"), (bea, "scissors"))
    assert ada.take("game_over") and bea.take("game_over")


def test_a_rematch_starts_when_both_ask(harness):
    ada, bea, game_id = start_game(harness, best_of=1)
    finish(ada, bea, game_id)
    assert bea.emit("rematch", {"game_id": game_id}) == OK
    assert ada.take("rematch_requested") == [{"game_id": game_id, "by": "Bea"}]
    assert bea.emit("rematch", {"game_id": game_id}) == OK  # asking twice is harmless
    assert ada.take("rematch_requested") == []
    assert ada.emit("rematch", {"game_id": game_id}) == OK
    [found_a], [found_b] = ada.take("match_found"), bea.take("match_found")
    assert found_a["game_id"] == found_b["game_id"] != game_id
    assert found_a["best_of"] == 1 and found_a["opponent"] == "Bea"
    new_id = found_a["game_id"]
    assert ada.take("round_started")[0]["game_id"] == new_id
    play_round(new_id, (ada, "paper"), (bea, "scissors"))
    assert ada.take("game_over")[0]["winner"] == "Bea"
    gone = ada.emit("rematch", {"game_id": game_id})
    assert gone == refused("No such game.", Code.NO_SUCH_GAME)  # the old game made way


def test_rematch_refusals(harness):
    ada, bea, game_id = start_game(harness, best_of=1)
    cyd = Seat(harness, "Cyd")
    assert ada.emit("rematch", {"game_id": game_id}) == refused(
        "This game is not over yet.", Code.GAME_NOT_OVER
    )
    finish(ada, bea, game_id)
    assert cyd.emit("rematch", {"game_id": game_id}) == refused(
        "You did not play in this game.", Code.NOT_A_PLAYER
    )
    assert bea.emit("leave_game", {"game_id": game_id}) == OK
    assert ada.emit("rematch", {"game_id": game_id}) == refused(
        "Your opponent has left.", Code.OPPONENT_LEFT
    )
    assert bea.emit("rematch", {"game_id": game_id}) == refused(
        "You have left this game.", Code.LEFT_GAME
    )


def test_no_rematch_with_an_opponent_who_went_offline_or_is_busy(harness):
    ada, bea, game_id = start_game(harness, best_of=1)
    finish(ada, bea, game_id)
    cyd = Seat(harness, "Cyd")
    find_match([bea, cyd])
    assert ada.emit("rematch", {"game_id": game_id}) == refused(
        "Bea is already in a game.", Code.OPPONENT_BUSY
    )
    bea.client.disconnect()
    assert ada.emit("rematch", {"game_id": game_id}) == refused(
        "Your opponent has left.", Code.OPPONENT_LEFT
    )


# ---- spectators and the list of games --------------------------------------------------------


def test_spectators_see_results_but_never_a_hidden_move(game):
    harness, ada, bea, game_id = game
    cyd = Seat(harness, "Cyd")
    ack = cyd.emit("watch", {"game_id": game_id})
    assert ack["ok"] is True
    view = ack["game"]
    assert view["game_id"] == game_id and view["players"] == ["Ada", "Bea"]
    assert view["best_of"] == 3 and view["round"] == 1 and view["status"] == "playing"
    assert view["score"] == {"Ada": 0, "Bea": 0} and view["thrown"] == {"Ada": False, "Bea": False}
    play_round(game_id, (ada, "scissors"))
    assert cyd.pull() == []  # no opponent_threw, no move
    assert cyd.emit("watch", {"game_id": game_id})["game"]["thrown"] == {"Ada": True, "Bea": False}
    assert "scissors" not in repr(cyd.emit("games", {}))
    play_round(game_id, (bea, "paper"))
    assert [r["moves"] for r in cyd.take("round_result")] == [{"Ada": "scissors", "Bea": "paper"}]
    assert [s["round"] for s in cyd.take("round_started")] == [2]
    assert cyd.emit("leave_game", {"game_id": game_id}) == OK
    play_round(game_id, (ada, "rock"), (bea, "rock"))
    assert cyd.pull() == []  # no longer watching
    assert ada.take("round_result")


def test_a_spectator_who_resumes_is_still_watching(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0)
    ada, bea, game_id = start_game(harness)
    cyd = Seat(harness, "Cyd")
    assert cyd.emit("watch", {"game_id": game_id})["ok"] is True
    harness.drop(cyd.client)
    cyd.resume()
    play_round(game_id, (ada, "rock"), (bea, "rock"))
    assert [r["round"] for r in cyd.take("round_result")] == [1]
    assert cyd.take("game_state") == []  # that is for players


def test_a_spectator_sees_the_end_and_a_finished_game_cannot_be_watched(game):
    harness, ada, bea, game_id = game
    cyd = Seat(harness, "Cyd")
    cyd.emit("watch", {"game_id": game_id})
    play_round(game_id, (ada, "rock"), (bea, "rock"))  # a round played: leaving forfeits
    assert ada.emit("leave_game", {"game_id": game_id}) == OK
    assert cyd.take("game_over")[0]["reason"] == "forfeit"
    dan = Seat(harness, "Dan")
    assert dan.emit("watch", {"game_id": game_id}) == refused("This game is over.", Code.GAME_OVER)
    assert dan.emit("leave_game", {"game_id": game_id}) == refused(
        "You are not in this game.", Code.NOT_IN_GAME
    )


def test_games_lists_the_live_games(harness):
    ada, bea, first = start_game(harness, best_of=1)
    _, _, second = start_game(harness, best_of=5, names=("Cyd", "Dan"))
    listed = ada.emit("games", {})
    assert listed == {
        "ok": True,
        "games": [
            {
                "game_id": first,
                "players": ["Ada", "Bea"],
                "best_of": 1,
                "round": 1,
                "score": {"Ada": 0, "Bea": 0},
            },
            {
                "game_id": second,
                "players": ["Cyd", "Dan"],
                "best_of": 5,
                "round": 1,
                "score": {"Cyd": 0, "Dan": 0},
            },
        ],
        "has_more": False,
    }
    finish(ada, bea, first)
    assert [g["game_id"] for g in ada.emit("games", {})["games"]] == [second]


# ---- game chat -------------------------------------------------------------------------------


def test_game_chat_reaches_players_and_spectators_and_is_stored(game):
    harness, ada, bea, game_id = game
    cyd, dan = Seat(harness, "Cyd"), Seat(harness, "Dan")
    cyd.emit("watch", {"game_id": game_id})
    ack = ada.emit("game_chat", {"game_id": game_id, "msg": "good luck"})
    assert ack["ok"] is True and isinstance(ack["id"], int) and isinstance(ack["ts"], int)
    line = {"game_id": game_id, "name": "Ada", "txt": "good luck", "id": ack["id"], "ts": ack["ts"]}
    for seat in (ada, bea, cyd):  # the sender included
        assert seat.take("game_message") == [line]
    assert dan.pull() == []  # neither the lobby nor anyone else
    assert cyd.emit("game_chat", {"game_id": game_id, "msg": "go Bea"})["ok"] is True
    outsider = dan.emit("game_chat", {"game_id": game_id, "msg": "hi"})
    assert outsider == refused(
        "Only this game's players and spectators can chat in it.", Code.NOT_IN_GAME
    )
    stored, _ = harness.services.storage.history.page(f"game:{game_id}")
    assert [(m.name, m.text) for m in stored] == [("Ada", "good luck"), ("Cyd", "go Bea")]
    lobby, _ = harness.services.storage.history.page("lobby")
    assert lobby == []


def test_game_chat_validates_like_the_lobby_and_sends_a_resend_once(game):
    _, ada, bea, game_id = game
    for payload, reason in (
        ({"msg": ""}, "A message can't be empty."),
        ({"msg": 5}, "A message must be a string."),
        ({"msg": "x" * 2001}, "A message can be at most 2000 characters."),
        ({"msg": "hi", "client_id": ""}, "client_id must be a string of 1 to 64 characters."),
    ):
        ack = ada.emit("game_chat", {"game_id": game_id, **payload})
        assert ack == refused(reason)
    first = ada.emit("game_chat", {"game_id": game_id, "msg": "gg", "client_id": "c1"})
    again = ada.emit("game_chat", {"game_id": game_id, "msg": "gg", "client_id": "c1"})
    assert again == {**first, "duplicate": True}
    assert [m["txt"] for m in bea.take("game_message")] == ["gg"]


# ---- the leaderboard -------------------------------------------------------------------------


def standing(harness, name):
    """The name's standing, established or not, as the results store has it."""
    return harness.services.games._ctx.results.standing(name)


def test_guests_games_count_and_the_leaderboard_ranks_none_of_them(harness):
    ada, bea, cyd, dan, eve = (Seat(harness, n) for n in ("Ada", "Bea", "Cyd", "Dan", "Eve"))
    for _ in range(2):
        game_id = find_match([ada, bea], best_of=1)
        play_round(game_id, (ada, "rock"), (bea, "scissors"))
    game_id = find_match([cyd, ada], best_of=1)
    play_round(game_id, (cyd, "paper"), (ada, "rock"))
    game_id = find_match([eve, dan], best_of=3)
    play_round(game_id, (eve, "rock"), (dan, "rock"))  # a round played: leaving forfeits
    assert eve.emit("leave_game", {"game_id": game_id}) == OK
    game_id = find_match([eve, bea], best_of=1)  # left before any round: aborted, not counted
    assert eve.emit("leave_game", {"game_id": game_id}) == OK
    records = {n: standing(harness, n) for n in ("Ada", "Bea", "Cyd", "Dan", "Eve")}
    assert {n: (r["wins"], r["losses"], r["draws"]) for n, r in records.items()} == {
        "Ada": (2, 1, 0), "Bea": (0, 2, 0), "Cyd": (1, 0, 0), "Dan": (1, 0, 0), "Eve": (0, 1, 0)
    }  # fmt: skip
    assert {(r["rating"], r["deviation"], r["provisional"]) for r in records.values()} == {
        (1500, 350, True)
    }  # a guest's rating never moves: provisional for good, never ranked
    assert ada.emit("leaderboard", {}) == {"ok": True, "players": [], "provisional": 5}


# ---- concurrency -----------------------------------------------------------------------------


def test_twenty_players_asking_at_once_make_ten_games(harness_factory):
    harness = harness_factory(other_rate=None)
    seats = [Seat(harness, f"p{i:02}") for i in range(20)]
    start = threading.Barrier(len(seats))
    acks: list[dict] = []

    def ask(seat: Seat) -> None:
        start.wait()
        acks.append(seat.emit("find_match", {"best_of": 3}))

    threads = [threading.Thread(target=ask, args=(seat,)) for seat in seats]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert acks == [OK] * 20
    found = {seat.name: seat.take("match_found") for seat in seats}
    assert all(len(f) == 1 for f in found.values())  # everyone exactly once
    by_game = Counter(f[0]["game_id"] for f in found.values())
    assert len(by_game) == 10 and set(by_game.values()) == {2}
    for name, [f] in found.items():
        assert found[f["opponent"]][0]["opponent"] == name
    assert live_players(harness) == Counter({seat.name: 1 for seat in seats})


# ---- any interleaving ------------------------------------------------------------------------

GAME_EVENTS = [
    "find_match",
    "cancel_match",
    "throw",
    "leave_game",
    "challenge",
    "answer_challenge",
    "rematch",
    "games",
    "watch",
    "game_chat",
    "leaderboard",
]
# Weighted towards what moves a game on; "drop" and "reconnect" exercise the presence hooks.
ACTIONS = [*GAME_EVENTS, "find_match", "throw", "throw", "throw", "rematch", "drop", "reconnect"]
GARBAGE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 7),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


# The fields each event reads; a drawn payload mostly has them, with a known value or garbage.
EVENT_FIELDS = {
    "find_match": ["best_of"],
    "throw": ["game_id", "move"],
    "leave_game": ["game_id"],
    "challenge": ["to", "best_of"],
    "answer_challenge": ["challenge_id", "accept"],
    "rematch": ["game_id"],
    "watch": ["game_id"],
    "game_chat": ["game_id", "msg", "client_id"],
}


def _draw_payload(data, event: str, harness: Harness, seat: Seat, names: list[str]) -> Any:
    if data.draw(st.integers(0, 9)) == 0:
        return data.draw(GARBAGE)  # not an object at all
    games = harness.services.games
    own_game = games._ctx.store.live_game_of(seat.name)
    game_ids = sorted({m.game_id for name in names for m in games._ctx.store.games_of(name)})
    known = {
        "game_id": [own_game] * 3 + game_ids if own_game else game_ids,  # mostly one's own
        "move": ["rock", "paper", "scissors", " Rock"],
        "best_of": [1, 3, 3, 3, 5],
        "to": names,
        "challenge_id": [c.challenge_id for c in games._pairing.challenge_store.all()],
        "accept": [True, False],
        "msg": ["gg", "x" * 2001],
        "client_id": ["c1", "c2"],
    }
    payload = {}
    for field in EVENT_FIELDS.get(event, []):
        choice = data.draw(st.integers(0, 9))
        if choice == 0:
            continue  # missing
        valid = known[field] if choice > 1 else []
        payload[field] = data.draw(st.sampled_from(valid)) if valid else data.draw(GARBAGE)
    return payload


def _check_invariants(harness: Harness, seats: list[Seat]) -> None:
    counts = live_players(harness)
    assert all(count == 1 for count in counts.values()), counts
    games = harness.services.games
    for seat in seats:
        queued = games._pairing.matchmaker.is_queued(seat.name)
        assert not (queued and counts[seat.name]), seat.name
        for name, payload in seat.pull():
            if name == "opponent_threw":
                assert set(payload) == {"game_id"}
            assert name != "error"


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_any_interleaving_keeps_everyone_in_at_most_one_game(data):
    # Long timers: no timer fires during an example, so a failure replays exactly.
    harness = Harness(
        round_seconds=3600.0,
        challenge_seconds=3600.0,
        resume_grace_seconds=3600.0,
        chat_rate=None,
        other_rate=None,
    )
    # Game ids in creation order, not random: the draws pick among sorted ids, and random ones
    # made the same draws pick other games on a replay, so Hypothesis saw its data generation
    # change between runs ("Inconsistent data generation": FlakyStrategyDefinition).
    numbers = itertools.count(1)
    harness.services.games._lifecycle._make_game_id = lambda: f"g{next(numbers):03d}"
    try:
        names = ["Ada", "Bea", "Cyd", "Dan"][: data.draw(st.integers(3, 4))]
        seats = [Seat(harness, name) for name in names]
        for _ in range(data.draw(st.integers(20, 60))):
            seat = data.draw(st.sampled_from(seats))
            action = data.draw(st.sampled_from(ACTIONS))
            if action == "drop":  # lost connection, resumed at once
                harness.drop(seat.client)
                seat.resume()
            elif action == "reconnect":  # leaves on purpose, comes back as a new user
                seat.client.disconnect()
                seat.client, seat.join_ack = harness.join(seat.name)
            else:
                ack = seat.emit(action, _draw_payload(data, action, harness, seat, names))
                assert isinstance(ack, dict) and ack.get("ok") in (True, False), ack
                if ack["ok"] is False:
                    assert isinstance(ack["error"], str) and ack["error"] != INTERNAL_ERROR
            _check_invariants(harness, seats)
    finally:
        harness.close()


# ---- game chat after a resume: lobby and game chat share one id sequence, `last_id` covers both


def test_a_resumed_player_gets_the_game_chat_it_missed_replayed_after_the_game_state(
    harness_factory,
):
    harness = harness_factory(resume_grace_seconds=5.0)
    ada, bea, game_id = start_game(harness)
    seen = ada.emit("game_chat", {"game_id": game_id, "msg": "seen"})["id"]
    harness.drop(ada.client)
    missed = [bea.emit("game_chat", {"game_id": game_id, "msg": f"missed {i}"}) for i in (1, 2)]
    lobby = bea.client.emit("message", {"msg": "lobby while away"}, callback=True)
    ada.resume(last_id=seen)

    events = received(ada.client)
    names = [name for name, _ in events]
    replayed = [payload for name, payload in events if name == "game_message"]
    assert replayed == [
        {
            "game_id": game_id,
            "name": "Bea",
            "txt": f"missed {i}",
            "id": ack["id"],
            "ts": ack["ts"],
            "replayed": True,
        }
        for i, ack in zip((1, 2), missed, strict=True)
    ]
    assert names.index("game_state") < names.index("game_message")
    lobby_replayed = [p for name, p in events if name == "message" and p.get("id") == lobby["id"]]
    assert lobby_replayed and lobby_replayed[0]["replayed"] is True


def test_last_id_counts_game_chat_ids_too(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0)
    ada, bea, game_id = start_game(harness)
    harness.drop(ada.client)
    early = bea.client.emit("message", {"msg": "lobby, before"}, callback=True)
    first = bea.emit("game_chat", {"game_id": game_id, "msg": "first"})
    late = bea.client.emit("message", {"msg": "lobby, after"}, callback=True)
    second = bea.emit("game_chat", {"game_id": game_id, "msg": "second"})
    assert early["id"] < first["id"] < late["id"] < second["id"]  # one sequence
    ada.resume(last_id=first["id"])

    events = received(ada.client)
    assert [p["txt"] for name, p in events if name == "game_message"] == ["second"]
    assert [p["txt"] for name, p in events if name == "message" and p.get("replayed")] == [
        "lobby, after"
    ]


def test_a_resumed_spectator_gets_the_game_chat_it_missed(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0)
    ada, bea, game_id = start_game(harness)
    cyd = Seat(harness, "Cyd")
    assert cyd.emit("watch", {"game_id": game_id})["ok"] is True
    seen = cyd.emit("game_chat", {"game_id": game_id, "msg": "hello players"})["id"]
    harness.drop(cyd.client)
    ada.emit("game_chat", {"game_id": game_id, "msg": "hi Cyd"})
    cyd.resume(last_id=seen)
    assert [(m["txt"], m["replayed"]) for m in cyd.take("game_message")] == [("hi Cyd", True)]


def test_without_last_id_no_game_chat_is_replayed(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0)
    ada, bea, game_id = start_game(harness)
    harness.drop(ada.client)
    bea.emit("game_chat", {"game_id": game_id, "msg": "while away"})
    ada.resume()
    assert ada.take("game_state") and ada.take("game_message") == []


def test_game_chat_of_other_games_is_not_replayed(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0)
    ada, bea, game_id = start_game(harness)
    cyd, dan, other_game = start_game(harness, names=("Cyd", "Dan"))
    harness.drop(ada.client)
    cyd.emit("game_chat", {"game_id": other_game, "msg": "not for Ada"})
    ada.resume(last_id=0)
    assert [m["game_id"] for m in ada.take("game_message")] == []


# ---- cost and lifetime of games (issue 12) ---------------------------------------------------


class CountingStore:
    """Wraps the match store: counts its calls and the matches they hand back (but not the
    cluster keeper's periodic `overdue`, which runs on its own clock)."""

    def __init__(self, store: Any):
        self.store = store
        self.calls = 0
        self.matches_read = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)
        if name == "overdue":
            return method

        def counted(*args: Any) -> Any:
            result = method(*args)
            self.calls += 1
            if isinstance(result, Match):
                self.matches_read += 1
            elif isinstance(result, list):
                self.matches_read += len(result)
            return result

        return counted


def test_connect_play_drop_resume_and_leave_cost_the_same_however_many_games_are_kept(
    harness_factory,
):
    harness = harness_factory(resume_grace_seconds=5.0)
    games = harness.services.games

    def cost(run: int, games_kept_by_others: int) -> tuple[int, int]:
        for i in range(games_kept_by_others):
            match = Match.start(f"old{run}-{i}", f"x{run}-{i}", f"y{run}-{i}", 1, 0.0, 15.0)
            match.forfeit(match.players[0], "forfeit")
            games._ctx.store.put(match)
        counting = games._ctx.store = CountingStore(games._ctx.store)
        try:
            ada, bea, game_id = start_game(harness, names=(f"Ada{run}", f"Bea{run}"))
            play_round(game_id, (ada, "rock"))
            harness.drop(ada.client)
            ada.resume()
            play_round(game_id, (bea, "rock"))
            bea.client.disconnect()  # for good: Ada wins by disconnect
            ada.wait_for("game_over")
            ada.client.disconnect()
        finally:
            games._ctx.store = counting.store
        return counting.calls, counting.matches_read

    assert cost(1, 0) == cost(2, 300)


def test_a_round_settled_early_leaves_no_timer_behind(harness):
    runtime = harness.services.runtime
    timers: list[Any] = []
    call_later = runtime.call_later

    def recorded(seconds: float, fn: Any, *args: Any) -> Any:
        timers.append(call_later(seconds, fn, *args))
        return timers[-1]

    runtime.call_later = recorded
    ada, bea, game_id = start_game(harness)  # round 1's timer: 15 s
    play_round(game_id, (ada, "rock"), (bea, "scissors"))
    play_round(game_id, (ada, "rock"), (bea, "scissors"))
    assert ada.take("game_over")
    round_timers = [t for t in timers if t.args[:1] == (game_id,)]
    assert len(round_timers) == 2  # rounds 1 and 2
    for timer in round_timers:
        timer.join(2)  # a cancelled threading.Timer ends at once
        assert not timer.is_alive()


def test_an_answered_challenge_leaves_no_timer_behind(harness):
    runtime = harness.services.runtime
    timers: list[Any] = []
    call_later = runtime.call_later
    runtime.call_later = lambda s, fn, *a: timers.append(call_later(s, fn, *a)) or timers[-1]
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    challenge_id = ada.emit("challenge", {"to": "Bea"})["challenge_id"]
    assert bea.emit("answer_challenge", {"challenge_id": challenge_id, "accept": False}) == OK
    [timer] = timers
    timer.join(2)
    assert not timer.is_alive()


def test_a_finished_game_is_released_after_finished_game_seconds(harness):
    games = harness.services.games
    games._ctx.settings = dataclasses.replace(games._ctx.settings, finished_game_seconds=0.2)
    clock = HeldClock(harness.services.runtime)
    ada, bea, game_id = start_game(harness)
    cyd = Seat(harness, "Cyd")
    assert cyd.emit("watch", {"game_id": game_id})["ok"]
    assert ada.emit("leave_game", {"game_id": game_id}) == OK
    assert bea.take("game_over")
    assert clock.pending() == [1.0]  # one sweep, at most once a second (not a timer per game)
    clock.advance(0.99)
    assert games._ctx.store.get(game_id) is not None  # kept for rematches and its chat
    clock.advance(0.01)
    assert games._ctx.store.get(game_id) is None  # no other game needs to finish first
    assert games._ctx.spectators.count(game_id) == 0 and games._ctx.store.games_of("Bea") == []
    assert bea.emit("game_chat", {"game_id": game_id, "msg": "gg"}) == refused(
        "No such game.", Code.NO_SUCH_GAME
    )
    assert clock.pending() == []  # nothing left to sweep


def test_games_starting_and_ending_log_nothing_at_info(harness, caplog):
    caplog.set_level(logging.INFO, logger="rpschat.games")
    ada, bea, game_id = start_game(harness, best_of=1)
    play_round(game_id, (ada, "rock"), (bea, "scissors"))
    assert ada.take("game_over")
    assert [r for r in caplog.records if r.name == "rpschat.games"] == []


def test_games_that_end_together_are_recorded_in_one_write_before_game_over(harness):
    games = harness.services.games
    results = games._ctx.results
    writes: list[list[str]] = []
    record_many = results.record_many

    def record(batch: list[Any]) -> None:
        writes.append([r.game_id for r in batch])
        record_many(batch)

    results.record_many = record
    seats = [Seat(harness, n) for n in ("Ada", "Bea", "Cyd", "Dan")]
    first, second = find_match(seats[:2], 1), find_match(seats[2:], 1)
    games._lifecycle._scorekeeper._recording = (
        True  # as if a write were under way: the next ones wait for it
    )
    play_round(first, (seats[0], "rock"), (seats[1], "scissors"))
    play_round(second, (seats[2], "rock"), (seats[3], "scissors"))
    assert seats[0].take("game_over") == [] and writes == []  # not announced before recorded
    games._lifecycle._scorekeeper._recording = False
    games._ctx.runtime.defer(games._lifecycle._scorekeeper._record_and_announce)
    assert writes == [[first, second]]
    assert seats[0].take("game_over") and seats[2].take("game_over")
    assert all(results.standing(name) for name in ("Ada", "Bea", "Cyd", "Dan"))


# ---- locks: one per game, and the lobby's for pairing ----------------------------------------


def in_thread(action: Any) -> tuple[threading.Thread, list[Any]]:
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(action()), daemon=True)
    thread.start()
    return thread, done


def test_a_throw_does_not_wait_for_another_games_lock(harness):
    ada, bea, first = start_game(harness)
    cyd, dan, second = start_game(harness, names=("Cyd", "Dan"))
    locks = harness.services.games._ctx.locks
    held, release = threading.Event(), threading.Event()

    def busy_in_first_game() -> None:
        with locks.hold(game_key(first)):
            held.set()
            release.wait(10)

    holder, _ = in_thread(busy_in_first_game)
    assert held.wait(5)
    try:
        thrower, done = in_thread(lambda: cyd.emit("throw", {"game_id": second, "move": "rock"}))
        thrower.join(5)
        assert done == [OK], "a throw in one game waited for another game"
        blocked, waited = in_thread(lambda: ada.emit("throw", {"game_id": first, "move": "rock"}))
        blocked.join(0.2)
        assert waited == []  # the same game's lock is held: that throw waits its turn
    finally:
        release.set()
    holder.join(5), blocked.join(5)
    assert waited == [OK]


def test_no_lock_is_left_behind_once_games_are_over(harness):
    ada, bea, game_id = start_game(harness, best_of=1)
    cyd = Seat(harness, "Cyd")
    assert cyd.emit("watch", {"game_id": game_id})["ok"]
    assert harness.services.games.live_count() == 1
    play_round(game_id, (ada, "rock"), (bea, "scissors"))
    assert ada.wait_for("game_over")
    assert harness.services.games._ctx.locks.held() == 0
    assert harness.services.games.live_count() == 0
