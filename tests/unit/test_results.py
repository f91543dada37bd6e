"""Game results and the leaderboard on every backend."""

import threading

import pytest

from rpschat.composition import open_storage
from rpschat.runtime import ThreadingRuntime
from rpschat.storage.common import StorageClosed
from rpschat.storage.memory.results import MemoryResults
from rpschat.storage.sql.results import SqlResults


@pytest.fixture
def results(storage_url):
    storage = open_storage(storage_url, ThreadingRuntime())
    yield storage.results
    storage.close()


def win(store, winner, loser, game_id, reason="won"):
    return store.record(winner, loser, (winner, loser), reason, 3, {winner: 2, loser: 0}, game_id)


def draw(store, a, b, game_id):
    return store.record(None, None, (a, b), "abandoned", 3, {a: 0, b: 0}, game_id)


def test_wins_losses_and_draws_are_counted(results):
    win(results, "Ada", "Bea", "g1")
    win(results, "Ada", "Cyd", "g2", reason="forfeit")
    draw(results, "Bea", "Cyd", "g3")
    assert results.leaderboard() == [
        {"name": "Ada", "wins": 2, "losses": 0, "draws": 0, "rating": 1500, "claimed": False},
        {"name": "Bea", "wins": 0, "losses": 1, "draws": 1, "rating": 1500, "claimed": False},
        {"name": "Cyd", "wins": 0, "losses": 1, "draws": 1, "rating": 1500, "claimed": False},
    ]


def test_ranking_is_wins_then_fewest_losses_then_name(results):
    win(results, "zed", "Bea", "g1")
    win(results, "Ada", "Bea", "g2")
    win(results, "bob", "Eve", "g3")
    win(results, "Eve", "Ada", "g4")
    draw(results, "Cat", "Dan", "g5")
    ranked = [(row["name"], row["wins"], row["losses"]) for row in results.leaderboard()]
    assert ranked == [
        ("bob", 1, 0),
        ("zed", 1, 0),
        ("Ada", 1, 1),
        ("Eve", 1, 1),
        ("Cat", 0, 0),
        ("Dan", 0, 0),
        ("Bea", 0, 2),
    ]
    assert [row["name"] for row in results.leaderboard(limit=2)] == ["bob", "zed"]


def test_names_are_case_insensitive_and_show_the_latest_spelling(results):
    win(results, "ada", "Bea", "g1")
    win(results, "ADA", "bea", "g2")
    assert results.leaderboard() == [
        {"name": "ADA", "wins": 2, "losses": 0, "draws": 0, "rating": 1500, "claimed": False},
        {"name": "bea", "wins": 0, "losses": 2, "draws": 0, "rating": 1500, "claimed": False},
    ]


def test_a_game_is_counted_once(results):
    assert win(results, "Ada", "Bea", "g1") is True
    assert win(results, "Ada", "Bea", "g1") is False
    assert draw(results, "Ada", "Bea", "g1") is False
    assert results.leaderboard()[0]["wins"] == 1


def test_a_winner_needs_a_loser(results):
    with pytest.raises(ValueError):
        results.record("Ada", None, ("Ada", "Bea"), "won", 3, {}, "g1")
    assert results.leaderboard() == []


def test_concurrent_games_are_all_counted(results):
    def play(n):
        for i in range(10):
            win(results, "Ada", f"p{n}", f"g{n}.{i}")

    threads = [threading.Thread(target=play, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    board = results.leaderboard()
    assert board[0] == {
        "name": "Ada",
        "wins": 80,
        "losses": 0,
        "draws": 0,
        "rating": 1500,
        "claimed": False,
    }
    assert sorted(row["losses"] for row in board[1:]) == [10] * 8


def test_results_survive_a_reopen(sql_url):
    storage = open_storage(sql_url, ThreadingRuntime())
    win(storage.results, "Ada", "Bea", "g1")
    storage.close()
    storage = open_storage(sql_url, ThreadingRuntime())
    reopened = storage.results
    assert reopened.leaderboard()[0] == {
        "name": "Ada",
        "wins": 1,
        "losses": 0,
        "draws": 0,
        "rating": 1500,
        "claimed": False,
    }
    assert win(reopened, "Ada", "Bea", "g1") is False
    storage.close()


def test_every_sql_store_shares_the_one_database(sql_url):
    storage = open_storage(sql_url, ThreadingRuntime())
    results = storage.results
    assert isinstance(results, SqlResults) and results.database is storage.database
    others = (storage.history, storage.accounts, storage.archive, storage.dms)
    assert all(store.database is storage.database for store in (*others, storage.moderation))
    win(results, "Ada", "Bea", "g1")
    results.close()  # the database is closed once, with the storage: it stays open
    assert results.leaderboard()[0]["name"] == "Ada"
    storage.close()
    with pytest.raises(StorageClosed):
        results.leaderboard()


def test_memory_url_gives_memory_results():
    assert isinstance(open_storage("memory://", ThreadingRuntime()).results, MemoryResults)


def test_a_batch_counts_each_new_game_once_and_says_which_were_new(results):
    from rpschat.domain.game.match import GameResult

    win(results, "Ada", "Bea", "g1")
    batch = [
        GameResult("Ada", "Bea", ("Ada", "Bea"), "won", 3, {"Ada": 2, "Bea": 0}, "g1"),  # known
        GameResult("Bea", "Ada", ("Ada", "Bea"), "timeout", 3, {"Ada": 0, "Bea": 2}, "g2"),
        GameResult(None, None, ("ada", "Cyd"), "abandoned", 1, {"ada": 0, "Cyd": 0}, "g3"),
        GameResult("Bea", "Ada", ("Ada", "Bea"), "timeout", 3, {"Ada": 0, "Bea": 2}, "g2"),  # again
    ]
    assert results.record_many(batch) == [False, True, True, False]
    assert results.record_many([]) == []
    assert results.leaderboard() == [
        {
            "name": "ada",
            "wins": 1,
            "losses": 1,
            "draws": 1,
            "rating": 1500,
            "claimed": False,
        },  # names are case-insensitive
        {"name": "Bea", "wins": 1, "losses": 1, "draws": 0, "rating": 1500, "claimed": False},
        {"name": "Cyd", "wins": 0, "losses": 0, "draws": 1, "rating": 1500, "claimed": False},
    ]


# ---- ratings, claimed names and guests' rows (issue 15) --------------------------------------


@pytest.fixture
def with_accounts(storage_url):
    """(results, accounts) on one database (or both in memory)."""
    from rpschat.domain.ports import Account

    storage = open_storage(storage_url, ThreadingRuntime())
    store, accounts = storage.results, storage.accounts

    def claim(name, user_id):
        assert accounts.create(Account(name.lower(), name, user_id, "hash", 1))

    yield store, claim
    storage.close()


def rated_win(store, winner, loser, game_id, users):
    return store.record(
        winner, loser, (winner, loser), "won", 1, {winner: 1, loser: 0}, game_id,
        user_ids={winner: users[winner], loser: users[loser]},
    )  # fmt: skip


def test_ratings_change_only_between_claimed_users(with_accounts):
    store, claim = with_accounts
    users = {"Ada": "u1", "Bea": "u2", "Cyd": "u3"}
    claim("Ada", "u1"), claim("Bea", "u2")
    rated_win(store, "Ada", "Bea", "g1", users)
    rated_win(store, "Cyd", "Ada", "g2", users)  # a guest: counted, not rated
    assert store.leaderboard() == [
        {"name": "Ada", "wins": 1, "losses": 1, "draws": 0, "rating": 1516, "claimed": True},
        {"name": "Cyd", "wins": 1, "losses": 0, "draws": 0, "rating": 1500, "claimed": False},
        {"name": "Bea", "wins": 0, "losses": 1, "draws": 0, "rating": 1484, "claimed": True},
    ]


def test_a_guest_row_is_forgotten_a_claimed_one_kept(with_accounts):
    store, claim = with_accounts
    users = {"Ada": "u1", "Bea": "u2"}
    claim("Ada", "u1")
    rated_win(store, "Ada", "Bea", "g1", users)
    assert not store.forget_guest("Ada", "u1")  # claimed: kept
    assert not store.forget_guest("Bea", "someone else")  # not that user's row
    assert store.forget_guest("Bea", "u2")
    assert [row["name"] for row in store.leaderboard()] == ["Ada"]
