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


def guest(name, wins, losses, draws):
    """A guest's standing: a rating that never moves, provisional for good."""
    return {"name": name, "wins": wins, "losses": losses, "draws": draws, "rating": 1500,
            "deviation": 350, "provisional": True, "claimed": False}  # fmt: skip


def standings(store, *names):
    return [store.standing(name) for name in names]


def test_wins_losses_and_draws_are_counted(results):
    win(results, "Ada", "Bea", "g1")
    win(results, "Ada", "Cyd", "g2", reason="forfeit")
    draw(results, "Bea", "Cyd", "g3")
    assert standings(results, "Ada", "Bea", "Cyd", "Dan") == [
        guest("Ada", 2, 0, 0),
        guest("Bea", 0, 1, 1),
        guest("Cyd", 0, 1, 1),
        None,
    ]
    # guests' ratings are provisional for good: the leaderboard counts them, ranks none
    board = results.leaderboard()
    assert (board.players, board.provisional) == ([], 3)


def test_equal_ratings_rank_by_wins_then_fewest_losses_then_name():
    from rpschat.domain.game.standings import leaderboard_of, new_row

    def row(name, wins, losses, rating=1500.0, deviation=60.0):
        return (name.lower(), new_row(name, None) | {"wins": wins, "losses": losses,
                "rating": rating, "deviation": deviation})  # fmt: skip

    rows = [row("zed", 1, 0), row("Ada", 1, 1), row("bob", 1, 0), row("Eve", 1, 1),
            row("Cat", 0, 0), row("Bea", 0, 2), row("Top", 0, 9, rating=1501),
            row("New", 9, 0, rating=2000, deviation=111)]  # fmt: skip
    board = leaderboard_of(rows, set(), 50)
    ranked = [(p["name"], p["wins"], p["losses"]) for p in board.players]
    assert ranked == [
        ("Top", 0, 9), ("bob", 1, 0), ("zed", 1, 0), ("Ada", 1, 1), ("Eve", 1, 1),
        ("Cat", 0, 0), ("Bea", 0, 2),
    ]  # fmt: skip
    assert board.provisional == 1  # New: a deviation above 110
    assert [p["name"] for p in leaderboard_of(rows, set(), 2).players] == ["Top", "bob"]


def test_names_are_case_insensitive_and_show_the_latest_spelling(results):
    win(results, "ada", "Bea", "g1")
    win(results, "ADA", "bea", "g2")
    assert standings(results, "Ada", "BEA") == [guest("ADA", 2, 0, 0), guest("bea", 0, 2, 0)]


def test_a_game_is_counted_once(results):
    assert win(results, "Ada", "Bea", "g1") is True
    assert win(results, "Ada", "Bea", "g1") is False
    assert draw(results, "Ada", "Bea", "g1") is False
    assert results.standing("Ada")["wins"] == 1


def test_a_winner_needs_a_loser(results):
    with pytest.raises(ValueError):
        results.record("Ada", None, ("Ada", "Bea"), "won", 3, {}, "g1")
    assert results.standing("Ada") is None and results.leaderboard().provisional == 0


def test_concurrent_games_are_all_counted(results):
    def play(n):
        for i in range(10):
            win(results, "Ada", f"p{n}", f"g{n}.{i}")

    threads = [threading.Thread(target=play, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert results.standing("Ada") == guest("Ada", 80, 0, 0)
    assert [results.standing(f"p{n}")["losses"] for n in range(8)] == [10] * 8


def test_results_survive_a_reopen(sql_url):
    storage = open_storage(sql_url, ThreadingRuntime())
    win(storage.results, "Ada", "Bea", "g1")
    storage.close()
    storage = open_storage(sql_url, ThreadingRuntime())
    reopened = storage.results
    assert reopened.standing("Ada") == guest("Ada", 1, 0, 0)
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
    assert results.standing("Ada")["name"] == "Ada"
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
    assert standings(results, "Ada", "Bea", "Cyd") == [
        guest("ada", 1, 1, 1),  # names are case-insensitive
        guest("Bea", 1, 1, 0),
        guest("Cyd", 0, 0, 1),
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
    ada, bea, cyd = standings(store, "Ada", "Bea", "Cyd")
    # Glicko-2 from 1500 / 350 / 0.06 each: 1662 / 290 and 1338 / 290 after one game
    assert (ada["rating"], ada["deviation"], ada["provisional"], ada["claimed"]) == (
        1662,
        290,
        True,
        True,
    )
    assert (bea["rating"], bea["deviation"], bea["wins"], bea["losses"]) == (1338, 290, 0, 1)
    assert cyd == guest("Cyd", 1, 0, 0)
    assert (ada["wins"], ada["losses"]) == (1, 1)


def test_the_leaderboard_ranks_established_ratings_and_counts_the_provisional(with_accounts):
    store, claim = with_accounts
    users = {"Ada": "u1", "Bea": "u2", "Cyd": "u3", "Dan": "u4"}
    for name, user in users.items():
        claim(name, user)
    for n in range(15):  # Ada and Bea settle (deviations below 110); Cyd and Dan play once
        rated_win(store, "Ada", "Bea", f"ab{n}", users) if n % 3 else rated_win(
            store, "Bea", "Ada", f"ab{n}", users
        )
    rated_win(store, "Cyd", "Dan", "cd", users)
    board = store.leaderboard()
    assert [p["name"] for p in board.players] == ["Ada", "Bea"]
    assert all(not p["provisional"] and p["deviation"] <= 110 for p in board.players)
    assert board.players[0]["rating"] > board.players[1]["rating"]
    assert board.provisional == 2
    assert store.standing("Cyd")["provisional"] and store.standing("Cyd")["rating"] == 1662


def test_a_guest_row_is_forgotten_a_claimed_one_kept(with_accounts):
    store, claim = with_accounts
    users = {"Ada": "u1", "Bea": "u2"}
    claim("Ada", "u1")
    rated_win(store, "Ada", "Bea", "g1", users)
    assert not store.forget_guest("Ada", "u1")  # claimed: kept
    assert not store.forget_guest("Bea", "someone else")  # not that user's row
    assert store.forget_guest("Bea", "u2")
    assert store.standing("Bea") is None and store.standing("Ada")["wins"] == 1
