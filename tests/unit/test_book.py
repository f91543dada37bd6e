"""Finished games kept for good and players' profiles (issue 26, points 2 and 3): `game_record`,
`profile`, /game/<id> and /u/<name>, with the shared state in memory and in Redis."""

from __future__ import annotations

import pytest

from rpschat.domain.errors import Code
from rpschat.domain.game.book import profile_of
from tests.support.refusals import refused
from tests.unit.test_computer_games import play_computer
from tests.unit.test_game_handlers import Seat, play_round
from tests.unit.test_names import CHEAP, PASSWORD

SHARED_STATES = ("memory", "redis")


@pytest.fixture
def harness(harness_factory):
    return harness_factory(**CHEAP)


def claim(seat):
    assert seat.emit("claim_name", {"password": PASSWORD})["ok"]


def best_of_3(ada, bea):
    """Ada wins 2-1 after a draw; returns the game id. By a challenge: quick match pairs ratings
    more than 100 apart only after a wait (game/seeking.py)."""
    challenge_id = ada.emit("challenge", {"to": bea.name, "best_of": 3})["challenge_id"]
    assert bea.emit("answer_challenge", {"challenge_id": challenge_id, "accept": True})["ok"]
    [found] = ada.take("match_found")
    game_id = found["game_id"]
    bea.take("match_found")
    play_round(game_id, (ada, "rock"), (bea, "rock"))
    play_round(game_id, (ada, "rock"), (bea, "paper"))
    play_round(game_id, (ada, "scissors"), (bea, "paper"))
    play_round(game_id, (ada, "paper"), (bea, "rock"))
    assert ada.take("game_over")
    return game_id


def test_a_game_between_people_is_kept_with_rounds_and_ratings(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    claim(ada), claim(bea)
    game_id = best_of_3(ada, bea)
    answer = bea.emit("game_record", {"game_id": game_id})
    assert answer["ok"] is True
    game = answer["game"]
    assert {k: game[k] for k in ("game_id", "players", "computer", "best_of", "winner",
                                 "score", "reason", "rated")} == {
        "game_id": game_id, "players": ["Ada", "Bea"], "computer": False, "best_of": 3,
        "winner": "Ada", "score": {"Ada": 2, "Bea": 1}, "reason": "won", "rated": True,
    }  # fmt: skip
    assert [(r["round"], r["moves"], r["winner"], r["score"]) for r in game["rounds"]] == [
        (1, {"Ada": "rock", "Bea": "rock"}, None, {"Ada": 0, "Bea": 0}),
        (2, {"Ada": "rock", "Bea": "paper"}, "Bea", {"Ada": 0, "Bea": 1}),
        (3, {"Ada": "scissors", "Bea": "paper"}, "Ada", {"Ada": 1, "Bea": 1}),
        (4, {"Ada": "paper", "Bea": "rock"}, "Ada", {"Ada": 2, "Bea": 1}),
    ]
    assert game["ratings"] == {
        "Ada": {"before": {"rating": 1500, "deviation": 350, "provisional": True},
                "after": {"rating": 1662, "deviation": 290, "provisional": True}},
        "Bea": {"before": {"rating": 1500, "deviation": 350, "provisional": True},
                "after": {"rating": 1338, "deviation": 290, "provisional": True}},
    }  # fmt: skip
    assert "user_ids" not in game and "verified" not in game
    assert isinstance(game["ended_at"], int)


def test_a_guests_game_is_kept_unrated_and_stays_after_the_guest_left(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    game_id = best_of_3(ada, bea)
    ada.client.disconnect(), bea.client.disconnect()
    cyd = Seat(harness, "Cyd")
    game = cyd.emit("game_record", {"game_id": game_id})["game"]
    assert game["rated"] is False and game["winner"] == "Ada" and len(game["rounds"]) == 4


def test_a_computer_game_is_kept_with_its_commitments_verified(harness):
    ada = Seat(harness, "Ada")
    game_id = play_computer(ada, best_of=1)["game_id"]
    for _ in range(20):
        play_round(game_id, (ada, "rock"))
        if ada.take("game_over"):
            break
    game = ada.emit("game_record", {"game_id": game_id})["game"]
    assert game["computer"] is True and game["players"] == ["Ada", "Computer"]
    assert game["ratings"] == {} and game["rated"] is False and game["verified"] is True
    assert all(r["verified"] is True and len(r["salt"]) == 32 for r in game["rounds"])


def test_unknown_games_and_bad_payloads_are_refused(harness):
    ada = Seat(harness, "Ada")
    no_such = refused("No such game.", Code.NO_SUCH_GAME)
    assert ada.emit("game_record", {"game_id": "nope"}) == no_such
    assert ada.emit("game_record", {"game_id": "g" * 65}) == no_such
    assert ada.emit("game_record", {"game_id": 7}) == no_such
    assert ada.emit("game_record", "g1") == refused(
        'Send an object like {game_id: "g7Hk"}.', Code.BAD_REQUEST
    )
    anonymous = harness.client()
    assert anonymous.emit("game_record", {"game_id": "x"}, callback=True)["code"] == (
        "name_required"
    )


def test_a_profile_has_rating_record_streaks_last_games_and_throws(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    claim(ada), claim(bea)
    first = best_of_3(ada, bea)
    second = best_of_3(ada, bea)
    computer = play_computer(ada, best_of=1)["game_id"]
    for _ in range(20):
        play_round(computer, (ada, "paper"))
        if ada.take("game_over"):
            break
    profile = bea.emit("profile", {"name": "ada"})["profile"]  # names are case-insensitive
    assert profile["name"] == "Ada"
    assert profile["provisional"] is True and profile["deviation"] < 350
    assert profile["rating"] > 1500
    assert profile["record"] == {"won": 2, "lost": 0, "drawn": 0, "abandoned": 0}
    assert profile["streak"] == {"current": 2, "best": 2}
    assert [g["game_id"] for g in profile["last_games"]] == [computer, second, first]
    assert profile["last_games"][1] == {
        "game_id": second, "opponent": "Bea", "computer": False, "result": "won",
        "score": {"Ada": 2, "Bea": 1}, "reason": "won",
        "ended_at": profile["last_games"][1]["ended_at"],
    }  # fmt: skip
    assert sum(profile["throws"].values()) in (99, 100, 101)
    assert profile["throws"]["rock"] > 0 and profile["throws"]["paper"] > 0
    bea_profile = ada.emit("profile", {"name": "Bea"})["profile"]
    assert bea_profile["streak"] == {"current": 0, "best": 0}
    assert bea_profile["record"]["lost"] == 2


def test_profiles_are_for_claimed_names_only(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    best_of_3(ada, bea)
    assert ada.emit("profile", {"name": "Bea"}) == refused(
        "No claimed name 'Bea': profiles are for claimed names.", Code.NO_SUCH_PLAYER
    )
    assert ada.emit("profile", {"name": 3})["code"] == "bad_request"


def test_streaks_count_wins_in_a_row_between_people():
    def game(n, winner, computer=False):
        return {"game_id": f"g{n}", "players": ["Ada", "Bea"], "user_ids": {"Ada": "u1"},
                "computer": computer, "best_of": 1, "winner": winner,
                "score": {}, "reason": "won", "ended_at": n, "rounds": []}  # fmt: skip

    history = [game(1, "Ada"), game(2, "Ada"), game(3, "Ada"), game(4, "Bea"), game(5, "Ada"),
               game(6, "Bea", computer=True)]  # fmt: skip
    profile = profile_of("Ada", "u1", None, history[::-1])  # newest first
    assert profile["streak"] == {"current": 1, "best": 3}  # the computer's games don't count
    assert profile["rating"] == 1500 and profile["provisional"] is True


# ---- the pages ------------------------------------------------------------------------------


def test_the_game_page_and_the_profile_page(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    claim(ada), claim(bea)
    game_id = best_of_3(ada, bea)
    http = harness.flask_app.test_client()
    page = http.get(f"/game/{game_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert '<h1 id="game-title">Ada vs Bea</h1>' in text
    assert "Ada won 2–1." in text and "1662?" in text and "+162" in text
    assert text.count('class="round-row"') == 4
    assert "script-src" in page.headers["Content-Security-Policy"]
    assert "<script>" not in text and "style=" not in text
    profile = http.get("/u/ada")
    assert profile.status_code == 200 and "1662?" in profile.get_data(as_text=True)
    assert f'href="/game/{game_id}"' in profile.get_data(as_text=True)
    assert http.get("/game/nope").status_code == 404
    assert http.get("/u/Nobody").status_code == 404
