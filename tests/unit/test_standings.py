"""Standings belong to users: Glicko-2 ratings between claimed names, guests' rows that go with
them, and seats that belong to the user who played (issue 15)."""

import pytest

from rpschat.domain.errors import Code
from rpschat.domain.game.match import GameResult
from rpschat.domain.game.standings import apply_result
from tests.support.refusals import refused
from tests.unit.test_game_handlers import OK, Seat, play_round
from tests.unit.test_names import CHEAP, PASSWORD

SHARED_STATES = ("memory", "redis")


@pytest.fixture
def harness(harness_factory):
    return harness_factory(**CHEAP)


def claim(seat):
    assert seat.emit("claim_name", {"password": PASSWORD})["username"] == seat.name


def win(winner, loser):
    """By a challenge: quick match pairs a guest with a claimed name, or ratings far apart,
    only after a wait (game/seeking.py)."""
    challenge_id = winner.emit("challenge", {"to": loser.name, "best_of": 1})["challenge_id"]
    assert loser.emit("answer_challenge", {"challenge_id": challenge_id, "accept": True})["ok"]
    [found] = winner.take("match_found")
    game_id = found["game_id"]
    loser.take("match_found")
    play_round(game_id, (winner, "rock"), (loser, "scissors"))
    return game_id


def board(seat, names=("Ada", "Bea", "Cyd")):
    """Each name's standing, established or not (None: no row), as the results store has it."""
    results = seat.harness.services.games._ctx.results
    return {name: row for name in names if (row := results.standing(name)) is not None}


def test_a_game_between_claimed_names_changes_ratings(harness):
    ada, bea, cyd = Seat(harness, "Ada"), Seat(harness, "Bea"), Seat(harness, "Cyd")
    claim(ada), claim(bea)
    win(bea, ada)
    win(cyd, ada)  # Cyd is a guest: no rating changes, though the game counts
    rows = board(ada)
    assert rows == {
        "Bea": {"name": "Bea", "wins": 1, "losses": 0, "draws": 0, "rating": 1662,
                "deviation": 290, "provisional": True, "claimed": True},
        "Cyd": {"name": "Cyd", "wins": 1, "losses": 0, "draws": 0, "rating": 1500,
                "deviation": 350, "provisional": True, "claimed": False},
        "Ada": {"name": "Ada", "wins": 0, "losses": 2, "draws": 0, "rating": 1338,
                "deviation": 290, "provisional": True, "claimed": True},
    }  # fmt: skip
    # all three provisional: the leaderboard ranks nobody and says so
    assert ada.emit("leaderboard", {}) == {"ok": True, "players": [], "provisional": 3}


def test_a_guest_row_goes_when_the_guest_leaves_and_a_claimed_row_stays(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    claim(ada)
    win(ada, bea)
    assert set(board(ada)) == {"Ada", "Bea"}
    bea.client.disconnect()
    assert set(board(ada)) == {"Ada"}
    ada.client.disconnect()
    cyd = Seat(harness, "Cyd")
    assert board(cyd)["Ada"]["wins"] == 1


def test_nobody_inherits_a_guest_record_under_the_same_name(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    win(ada, bea)
    harness.drop(ada.client)  # in the grace period: the name is held, the row kept
    assert board(bea)["Ada"]["wins"] == 1
    harness.services.connections.release(ada.join_ack["token"].partition(".")[0])
    impostor = Seat(harness, "Ada")
    assert "Ada" not in board(impostor)
    win(bea, impostor)
    assert board(bea)["Ada"] == {"name": "Ada", "wins": 0, "losses": 1, "draws": 0,
                                 "rating": 1500, "deviation": 350, "provisional": True,
                                 "claimed": False}  # fmt: skip


def test_a_row_counts_only_the_user_it_belongs_to():
    rows = {}
    apply_result(rows, GameResult("Ada", "Bea", ("Ada", "Bea"), "won", 1, {}, "g1",
                                  user_ids={"Ada": "u1", "Bea": "u2"}), set())  # fmt: skip
    apply_result(rows, GameResult("Ada", "Bea", ("Ada", "Bea"), "won", 1, {}, "g2",
                                  user_ids={"Ada": "u3", "Bea": "u2"}), set())  # fmt: skip
    assert rows["ada"]["wins"] == 1 and rows["ada"]["user_id"] == "u3"  # started afresh
    assert rows["bea"]["losses"] == 2
    late = GameResult("Bea", "Ada", ("Ada", "Bea"), "won", 1, {}, "g3",
                      user_ids={"Ada": "u9", "Bea": "u2"}, gone=("Ada",))  # fmt: skip
    apply_result(rows, late, {"u2"})
    assert rows["ada"]["user_id"] == "u3"  # a guest who left gets no row


def test_game_chat_and_rematch_belong_to_the_user_who_played(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    game_id = win(ada, bea)
    ada.client.disconnect()
    impostor = Seat(harness, "Ada")
    assert impostor.emit("game_chat", {"game_id": game_id, "msg": "it's me"}) == refused(
        "Only this game's players and spectators can chat in it.", Code.NOT_IN_GAME
    )
    assert impostor.emit("rematch", {"game_id": game_id}) == refused(
        "You did not play in this game.", Code.NOT_A_PLAYER
    )
    assert bea.emit("rematch", {"game_id": game_id}) == refused(
        "Your opponent has left.", Code.OPPONENT_LEFT
    )


def test_a_claimed_player_logging_in_again_keeps_the_seat(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    claim(ada)
    game_id = win(ada, bea)
    second = harness.client()
    assert second.emit("set_username", {"username": "Ada", "password": PASSWORD}, callback=True)[
        "ok"
    ]
    ack = second.emit("game_chat", {"game_id": game_id, "msg": "gg from my phone"}, callback=True)
    assert ack["ok"] is True
    assert second.emit("rematch", {"game_id": game_id}, callback=True) == OK


def test_both_devices_of_a_claimed_player_follow_the_game(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    claim(ada)
    phone = harness.client()
    assert phone.emit("set_username", {"username": "Ada", "password": PASSWORD}, callback=True)[
        "ok"
    ]
    phone.get_received()
    game_id = win(ada, bea)
    over = [r["args"][0] for r in phone.get_received() if r["name"] == "game_over"]
    assert over and over[0]["game_id"] == game_id and over[0]["winner"] == "Ada"
    [on_the_first_device] = ada.take("game_over")
    assert on_the_first_device == over[0]
