"""Ratings can't be gamed (issue 21, items 9 to 11): no release mid-game, only the first rated
games of a pair a day change ratings, a released name's rating is not inherited."""

import pytest

from rpschat.composition import open_storage
from rpschat.domain.errors import Code
from rpschat.domain.game.match import GameResult
from rpschat.runtime import ThreadingRuntime
from rpschat.storage.memory.results import MemoryResults
from rpschat.storage.sql.results import SqlResults
from tests.support.refusals import refused
from tests.unit.conftest import events
from tests.unit.test_names import CHEAP, PASSWORD

SHARED_STATES = ("memory", "redis")


def call(client, event, payload=None):
    return client.emit(event, payload or {}, callback=True)


def claimed(harness, name, password=PASSWORD):
    client, _ = harness.join(name)
    client.name = name
    assert call(client, "claim_name", {"password": password})["ok"]
    client.get_received()
    return client


def play_one(first, second):
    """A best-of-1 between the two, `first` wins; returns its game id. By a challenge: quick
    match pairs ratings more than 100 apart only after a wait (game/seeking.py)."""
    challenge_id = call(first, "challenge", {"to": second.name, "best_of": 1})["challenge_id"]
    assert call(second, "answer_challenge", {"challenge_id": challenge_id, "accept": True})["ok"]
    [found] = events(first, "match_found")
    second.get_received()
    assert call(first, "throw", {"game_id": found["game_id"], "move": "paper"})["ok"]
    assert call(second, "throw", {"game_id": found["game_id"], "move": "rock"})["ok"]
    return found["game_id"]


def standings(client, harness, names=("Ada", "Bea", "Cyd")):
    """Each name's standing, established or not, as the results store has it."""
    results = harness.services.games._ctx.results
    return {name: row for name in names if (row := results.standing(name)) is not None}


def test_a_name_is_not_released_mid_game_so_a_rated_game_stays_rated(harness_factory):
    harness = harness_factory(**CHEAP)
    ada, bea = claimed(harness, "Ada"), claimed(harness, "Bea")
    assert call(ada, "find_match", {"best_of": 3})["ok"]
    assert call(ada, "release_name", {"password": PASSWORD}) == refused(
        "You can't release your name during a game or while looking for one.", Code.IN_GAME
    )  # queued
    assert call(bea, "find_match", {"best_of": 3})["ok"]
    assert call(ada, "release_name", {"password": PASSWORD})["code"] == "in_game"  # playing
    assert call(bea, "release_name", {"password": PASSWORD})["code"] == "in_game"


def test_only_the_first_rated_games_of_a_pair_a_day_change_ratings(harness_factory):
    harness = harness_factory(**CHEAP, rated_games_per_pair=3)
    ada, bea = claimed(harness, "Ada"), claimed(harness, "Bea")
    ratings = []
    for _ in range(5):
        play_one(ada, bea)
        ada.get_received(), bea.get_received()
        row = standings(ada, harness)["Ada"]
        ratings.append((row["wins"], row["rating"]))
    assert [wins for wins, _ in ratings] == [1, 2, 3, 4, 5]  # every game counts as played
    assert ratings[2][1] > ratings[1][1] > ratings[0][1] > 1500
    assert ratings[4][1] == ratings[3][1] == ratings[2][1]  # the 4th and 5th change nothing
    cyd = claimed(harness, "Cyd")
    play_one(ada, cyd)  # another pair: rated
    assert standings(ada, harness)["Ada"]["rating"] > ratings[4][1]


def test_a_new_claimant_of_a_released_name_starts_afresh(harness_factory):
    harness = harness_factory(**CHEAP)
    ada, bea = claimed(harness, "Ada"), claimed(harness, "Bea")
    for _ in range(3):
        play_one(ada, bea)
    assert standings(bea, harness)["Ada"]["rating"] > 1540
    ada.get_received()
    assert call(ada, "release_name", {"password": PASSWORD})["ok"] is True
    assert "Ada" not in standings(bea, harness)  # a released account's standing goes
    ada.disconnect()
    stranger = claimed(harness, "Ada", "the strangers password")
    play_one(stranger, bea)
    row = standings(bea, harness)["Ada"]
    assert (row["wins"], row["losses"]) == (1, 0)
    assert row["deviation"] > 280  # one game from 1500 / 350: nothing inherited
    assert 1500 < row["rating"] < 1662  # against a weaker Bea, less than between equals


def result(game_id, user_ids=None):
    return GameResult("Ada", "Bea", ("Ada", "Bea"), "won", 1, {"Ada": 1, "Bea": 0}, game_id,
                      user_ids=user_ids or {"Ada": "u1", "Bea": "u2"})  # fmt: skip


class Claimed:
    def of_user(self, user_id):
        return object()


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgresql"])
def test_the_pairs_allowance_is_kept_by_the_store(backend, request, tmp_path):
    storage = None
    if backend == "memory":
        store = MemoryResults(Claimed(), rated_per_pair=2)
    else:
        url = (f"sqlite:///{tmp_path / 'r.db'}" if backend == "sqlite"
               else request.getfixturevalue("postgres_url"))  # fmt: skip
        storage = open_storage(url, ThreadingRuntime())
        from rpschat.storage.sql import database

        with storage.database.engine.begin() as conn:  # both users claimed
            for user_id, name in (("u1", "Ada"), ("u2", "Bea")):
                conn.execute(database.accounts.insert().values(
                    key=name.lower(), name=name, user_id=user_id, password_hash="h",
                    created_at=1))  # fmt: skip
        store = SqlResults(storage.database, ThreadingRuntime(), rated_per_pair=2)
    ratings = []
    for n in range(2):
        store.record_many([result(f"g{2 * n}"), result(f"g{2 * n + 1}")])  # batches of two
        ratings.append({name: store.standing(name)["rating"] for name in ("Ada", "Bea")})
    assert ratings[0]["Ada"] > 1500 and ratings[1] == ratings[0]
    if storage is not None:
        storage.close()
