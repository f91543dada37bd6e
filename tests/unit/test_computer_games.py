"""Playing the computer and the history of one's games (`my_games`), through the test client.

The contract is docs/protocol.md, "find_match" (opponent: "computer") and "my_games"."""

from __future__ import annotations

import random

import pytest

from rpschat.domain.errors import Code
from rpschat.domain.game.computer import Strategy
from tests.support.refusals import refused
from tests.unit.conftest import HeldClock
from tests.unit.test_game_handlers import OK, Seat, find_match, play_round

# Every test here runs with the shared state in memory and in Redis (tests/unit/conftest.py).
SHARED_STATES = ("memory", "redis")


def play_computer(seat: Seat, best_of: int = 3) -> dict:
    assert seat.emit("find_match", {"best_of": best_of, "opponent": "computer"}) == OK
    [found] = seat.take("match_found")
    return found


def computer_move(harness, game_id: str) -> str | None:
    """What the server holds as the computer's move of the current round."""
    match = harness.services.games._ctx.store.get(game_id)
    return match.moves.get("Computer")


def test_find_match_against_the_computer_starts_at_once(harness):
    ada = Seat(harness, "Ada")
    found = play_computer(ada, best_of=3)
    assert found == {
        "game_id": found["game_id"],
        "opponent": "Computer",
        "best_of": 3,
        "computer": True,
        "players": ["Ada", "Computer"],
        "round_seconds": 15.0,
    }
    [started] = ada.take("round_started")
    assert started["game_id"] == found["game_id"] and started["round"] == 1
    assert 14000 < started["time_left_ms"] <= 15000
    # nobody else was involved: Bea finds no one waiting
    bea = Seat(harness, "Bea")
    assert bea.emit("find_match", {"best_of": 3}) == OK
    assert bea.take("match_found") == []


def test_the_computer_plays_many_people_at_once(harness):
    seats = [Seat(harness, name) for name in ("Ada", "Bea", "Cyd")]
    games = {seat.name: play_computer(seat)["game_id"] for seat in seats}
    assert len(set(games.values())) == 3
    for seat in seats:
        play_round(games[seat.name], (seat, "rock"))
        [result] = seat.take("round_result")
        assert result["game_id"] == games[seat.name]
    live = harness.services.games._ctx.store.live_games()
    assert sorted(m.name_of(m.players[0]) for m in live) == ["Ada", "Bea", "Cyd"]


def test_the_computers_move_is_fixed_when_the_round_starts(harness_factory):
    """Decided and recorded at round_started; a throw never changes it."""
    harness = harness_factory(other_rate=None)  # 20-45 games and throws: past the rate limit
    ada = Seat(harness, "Ada")
    moves = ["rock", "paper", "scissors", "rock", "rock", "scissors", "paper"]
    rounds_checked = 0
    for _game in range(6):
        game_id = play_computer(ada, best_of=5)["game_id"]
        for move in moves * 4:
            [started] = ada.take("round_started")
            decided = computer_move(harness, game_id)
            assert decided in ("rock", "paper", "scissors")
            play_round(game_id, (ada, move))
            [result] = ada.take("round_result")
            assert result["round"] == started["round"]
            assert result["moves"] == {"Ada": move, "Computer": decided}
            rounds_checked += 1
            if ada.take("game_over"):
                break
        assert ada.emit("leave_game", {"game_id": game_id}) == OK
    assert rounds_checked >= 18


def test_a_game_against_the_computer_ends_like_any_other(harness):
    ada = Seat(harness, "Ada")
    game_id = play_computer(ada, best_of=1)["game_id"]
    over = []
    while not over:
        ada.take("round_started")
        play_round(game_id, (ada, "rock"))
        [result] = ada.take("round_result")
        assert result["timeout"] is False
        over = ada.take("game_over")
    assert over[0]["game_id"] == game_id
    assert over[0]["reason"] == "won" and over[0]["winner"] in ("Ada", "Computer")


def test_results_against_the_computer_are_history_not_standings(harness):
    ada = Seat(harness, "Ada")
    game_id = play_computer(ada, best_of=3)["game_id"]
    assert ada.emit("throw", {"game_id": game_id, "move": "rock"}) == OK  # round 1 played
    assert ada.emit("leave_game", {"game_id": game_id}) == OK  # a forfeit: the computer wins
    assert ada.emit("leaderboard", {}) == {"ok": True, "players": [], "provisional": 0}
    answer = ada.emit("my_games", {})
    assert answer["ok"] and answer["has_more"] is False
    [game] = answer["games"]
    assert game["game_id"] == game_id and game["opponent"] == "Computer"
    assert game["computer"] is True and game["winner"] == "Computer"
    assert game["reason"] == "forfeit" and len(game["rounds"]) == 1


def test_the_computer_wins_a_round_its_opponent_lets_time_out(harness_factory):
    harness = harness_factory(round_seconds=0.3)
    clock = HeldClock(harness.services.runtime)
    ada = Seat(harness, "Ada")
    game_id = play_computer(ada, best_of=3)["game_id"]
    decided = computer_move(harness, game_id)
    clock.advance(0.3)
    [result] = ada.take("round_result")
    assert result["moves"] == {"Ada": None, "Computer": decided}
    assert result["winner"] == "Computer" and result["timeout"] is True


def test_a_rematch_with_the_computer_starts_at_once(harness):
    ada = Seat(harness, "Ada")
    game_id = play_computer(ada, best_of=1)["game_id"]
    while not ada.take("game_over"):
        play_round(game_id, (ada, "paper"))
    assert ada.emit("rematch", {"game_id": game_id}) == OK
    [found] = ada.take("match_found")
    assert found["opponent"] == "Computer" and found["game_id"] != game_id
    assert found["best_of"] == 1 and found["computer"] is True
    assert ada.emit("rematch", {"game_id": game_id}) == refused("No such game.", Code.NO_SUCH_GAME)


def test_the_round_timer_against_the_computer_is_the_players_to_set(harness_factory):
    """WCAG 2.2.1 (issue 23): a player sets the time per round against the computer (up to an
    hour, in effect no limit); a rematch keeps it; the computer's rounds wait that long."""
    harness = harness_factory(round_seconds=0.5)
    clock = HeldClock(harness.services.runtime)
    ada = Seat(harness, "Ada")
    ask = {"best_of": 1, "opponent": "computer", "round_seconds": 3600}
    assert ada.emit("find_match", ask) == OK
    [found] = ada.take("match_found")
    assert found["round_seconds"] == 3600
    clock.advance(600)  # ten minutes: the round is still on
    assert ada.take("round_result") == [] and ada.take("game_over") == []
    game_id = found["game_id"]
    while not ada.take("game_over"):
        play_round(game_id, (ada, "paper"))
    assert ada.emit("rematch", {"game_id": game_id}) == OK
    assert ada.take("match_found")[0]["round_seconds"] == 3600


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            {"best_of": 1, "opponent": "computer", "round_seconds": 4},
            "round_seconds must be a whole number from 5 to 3600.",
        ),
        (
            {"best_of": 1, "opponent": "computer", "round_seconds": "60"},
            "round_seconds must be a whole number from 5 to 3600.",
        ),
        (
            {"best_of": 1, "round_seconds": 60},
            "round_seconds can only be set for a game against the computer.",
        ),
    ],
)
def test_a_bad_round_timer_is_refused(harness, payload, reason):
    ada = Seat(harness, "Ada")
    answer = ada.emit("find_match", payload)
    assert answer["error"] == reason and answer["code"] == "bad_request"
    assert answer["field"] == "round_seconds"


def test_the_computer_remembers_earlier_games(harness_factory):
    """A player who always throws scissors meets rock from the first round of the next game."""
    harness = harness_factory(other_rate=None)  # about 40 games and throws: near the limit
    harness.services.games._ctx.strategy = Strategy(random.Random(3))  # its noise, seeded
    ada = Seat(harness, "Ada")
    for _ in range(3):
        game_id = play_computer(ada, best_of=5)["game_id"]
        while not ada.take("game_over"):
            play_round(game_id, (ada, "scissors"))
    computer_rock = 0
    for _ in range(10):
        game_id = play_computer(ada, best_of=1)["game_id"]
        computer_rock += computer_move(harness, game_id) == "rock"
        assert ada.emit("leave_game", {"game_id": game_id}) == OK
    assert computer_rock >= 7  # 10 % of its moves are random


@pytest.mark.parametrize(
    "opponent", ["robot", "Computer", "", 1, True, ["computer"], {"name": "computer"}]
)
def test_an_unknown_opponent_is_refused(harness, opponent):
    ada = Seat(harness, "Ada")
    answer = ada.emit("find_match", {"best_of": 3, "opponent": opponent})
    assert answer == refused(
        'opponent must be "computer", or left out for a person.', Code.BAD_REQUEST
    )
    assert ada.take("match_found") == []


def test_playing_the_computer_while_queued_or_playing_is_refused(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    assert ada.emit("find_match", {"best_of": 3}) == OK
    assert ada.emit("find_match", {"opponent": "computer"}) == refused(
        "You are already looking for a match.", Code.ALREADY_QUEUED
    )
    assert ada.emit("cancel_match", {}) == OK
    play_computer(ada)
    assert ada.emit("find_match", {"opponent": "computer"}) == refused(
        "You are already in a game.", Code.IN_GAME
    )
    assert ada.emit("find_match", {}) == refused("You are already in a game.", Code.IN_GAME)
    # Ada is busy: Bea can't challenge her, and she can't rename
    assert bea.emit("challenge", {"to": "Ada"}) == refused(
        "Ada is already in a game.", Code.OPPONENT_BUSY
    )
    assert ada.emit("set_username", {"username": "Ann"})["ok"] is False


def test_playing_the_computer_needs_a_name(harness):
    client = harness.client()
    answer = client.emit("find_match", {"opponent": "computer"}, callback=True)
    assert answer == refused("Pick a name before you play.", Code.NAME_REQUIRED)


def test_a_player_who_leaves_the_site_loses_to_the_computer(harness):
    ada = Seat(harness, "Ada")
    game_id = play_computer(ada)["game_id"]
    ada.client.disconnect()
    match = harness.services.games._ctx.store.get(game_id)
    assert match.is_over and match.reason == "disconnect" and match.winner == "Computer"


# ---- my_games ------------------------------------------------------------------------------


def test_my_games_has_both_players_games_with_their_rounds(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    game_id = find_match([ada, bea], best_of=3)
    play_round(game_id, (ada, "rock"), (bea, "rock"))
    play_round(game_id, (ada, "rock"), (bea, "scissors"))
    play_round(game_id, (ada, "paper"), (bea, "rock"))
    assert ada.take("game_over")
    [game] = ada.emit("my_games", {})["games"]
    assert game == {
        "id": game["id"],
        "game_id": game_id,
        "opponent": "Bea",
        "computer": False,
        "best_of": 3,
        "winner": "Ada",
        "score": {"Ada": 2, "Bea": 0},
        "rounds": [
            {"round": 1, "moves": {"Ada": "rock", "Bea": "rock"}, "winner": None},
            {"round": 2, "moves": {"Ada": "rock", "Bea": "scissors"}, "winner": "Ada"},
            {"round": 3, "moves": {"Ada": "paper", "Bea": "rock"}, "winner": "Ada"},
        ],
        "reason": "won",
        "ended_at": game["ended_at"],
    }
    assert isinstance(game["ended_at"], int) and game["ended_at"] > 1_700_000_000_000
    [bea_game] = bea.emit("my_games")["games"]
    assert bea_game["opponent"] == "Ada" and bea_game["game_id"] == game_id
    cyd = Seat(harness, "Cyd")
    assert cyd.emit("my_games", {}) == {"ok": True, "games": [], "has_more": False}


def test_my_games_pages_newest_first(harness):
    ada = Seat(harness, "Ada")
    ids = []
    for _ in range(5):
        game_id = play_computer(ada, best_of=1)["game_id"]
        assert ada.emit("leave_game", {"game_id": game_id}) == OK
        ids.append(game_id)
    first = ada.emit("my_games", {"limit": 2})
    assert [g["game_id"] for g in first["games"]] == ids[:-3:-1] and first["has_more"]
    second = ada.emit("my_games", {"limit": 2, "before": first["games"][-1]["id"]})
    assert [g["game_id"] for g in second["games"]] == ids[2:0:-1] and second["has_more"]
    third = ada.emit("my_games", {"limit": 2, "before": second["games"][-1]["id"]})
    assert [g["game_id"] for g in third["games"]] == ids[:1] and not third["has_more"]


@pytest.mark.parametrize(
    "payload, reason",
    [
        ("games", "Send an object like {before: 42, limit: 20}."),
        ([], "Send an object like {before: 42, limit: 20}."),
        ({"limit": 0}, "limit must be a whole number from 1 to 50."),
        ({"limit": 51}, "limit must be a whole number from 1 to 50."),
        ({"limit": "5"}, "limit must be a whole number from 1 to 50."),
        ({"limit": True}, "limit must be a whole number from 1 to 50."),
        ({"before": -1}, "before must be a whole number from 0 to 9223372036854775807."),
        ({"before": 2**63}, "before must be a whole number from 0 to 9223372036854775807."),
        ({"before": 1.5}, "before must be a whole number from 0 to 9223372036854775807."),
    ],
)
def test_bad_my_games_requests_are_refused(harness, payload, reason):
    ada = Seat(harness, "Ada")
    assert ada.emit("my_games", payload) == refused(reason, Code.BAD_REQUEST)


def test_my_games_needs_a_name(harness):
    client = harness.client()
    assert client.emit("my_games", {}, callback=True) == refused(
        "Pick a name before you play.", Code.NAME_REQUIRED
    )


def test_a_guests_games_go_with_the_guest(harness):
    ada = Seat(harness, "Ada")
    game_id = play_computer(ada, best_of=1)["game_id"]
    assert ada.emit("leave_game", {"game_id": game_id}) == OK
    assert len(ada.emit("my_games")["games"]) == 1
    ada.client.disconnect()  # gone for good
    again = Seat(harness, "Ada")  # another guest under the same name
    assert again.emit("my_games") == {"ok": True, "games": [], "has_more": False}


def test_a_claimed_names_games_are_kept(harness_factory):
    harness = harness_factory(password_hash_kib=64)
    ada = Seat(harness, "Ada")
    assert ada.emit("claim_name", {"password": "correct horse"})["ok"]
    game_id = play_computer(ada, best_of=1)["game_id"]
    assert ada.emit("leave_game", {"game_id": game_id}) == OK
    ada.client.disconnect()
    back = harness.client()
    ack = back.emit("set_username", {"username": "Ada", "password": "correct horse"}, callback=True)
    assert ack["ok"], ack
    [game] = back.emit("my_games", {}, callback=True)["games"]
    assert game["game_id"] == game_id


# ---- provably fair rounds (issue 26, point 7) ------------------------------------------------


def test_each_round_commits_to_the_computers_move_and_reveals_the_salt_after(harness):
    import hashlib

    ada = Seat(harness, "Ada")
    game_id = play_computer(ada, best_of=3)["game_id"]
    commits = []
    while True:
        [started] = ada.take("round_started")
        decided = computer_move(harness, game_id)
        # the commitment: sha256("<move>:<salt>") of the move already chosen; no salt yet
        assert set(started) == {"game_id", "round", "time_left_ms", "commit"}
        assert len(started["commit"]) == 64 and started["commit"] not in commits
        commits.append(started["commit"])
        state = ada.emit("watch", {"game_id": game_id})
        assert state["game"]["commit"] == started["commit"] and "salt" not in state["game"]
        play_round(game_id, (ada, "rock"))
        [result] = ada.take("round_result")
        assert result["commit"] == started["commit"] and len(result["salt"]) == 32
        opened = hashlib.sha256(f"{decided}:{result['salt']}".encode()).hexdigest()
        assert result["moves"]["Computer"] == decided and opened == started["commit"]
        assert hashlib.sha256(f"{decided}:{result['salt']}x".encode()).hexdigest() != opened
        if ada.take("game_over"):
            break
    [game] = ada.emit("my_games", {})["games"]
    assert game["verified"] is True and len(game["rounds"]) == len(commits)
    assert [r["commit"] for r in game["rounds"]] == commits
    assert all(r["verified"] is True for r in game["rounds"])


def test_a_round_that_does_not_open_its_commitment_is_not_verified():
    from rpschat.domain.game.ports import GameRecord

    def record(salt):
        rounds = [{"round": 1, "moves": {"Ada": "rock", "Computer": "paper"}, "winner":
                   "Computer", "commit": commitment("paper", "s1"), "salt": salt}]  # fmt: skip
        return GameRecord("g1", "u1", "Ada", "Computer", True, 1, "Computer",
                          {"Ada": 0, "Computer": 1}, rounds, "won", 1).to_wire()  # fmt: skip

    from rpschat.domain.game.fairness import commitment

    assert record("s1")["verified"] is True and record("s1")["rounds"][0]["verified"] is True
    tampered = record("s2")
    assert tampered["verified"] is False and tampered["rounds"][0]["verified"] is False


def test_games_between_people_carry_no_commitment(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    game_id = find_match([ada, bea], best_of=1)
    assert "commit" not in ada.take("round_started")[0]
    play_round(game_id, (ada, "rock"), (bea, "scissors"))
    assert not {"commit", "salt"} & set(ada.take("round_result")[0])
    [game] = ada.emit("my_games", {})["games"]
    assert "verified" not in game and "commit" not in game["rounds"][0]
