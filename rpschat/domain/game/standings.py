"""Standings: wins, losses and draws per name, and Glicko-2 ratings between claimed users.

Pure rules over rows (name key -> row: name, user_id, wins, losses, draws, rating, deviation,
volatility), which the results stores keep: in this process (storage/memory/results.py) or in
the database (storage/sql/results.py). The rating rules: game/glicko.py.
"""

from __future__ import annotations

from typing import Any

from rpschat.domain.game.glicko import Glicko, aged, is_provisional, rate
from rpschat.domain.game.match import GameResult
from rpschat.domain.game.ports import Leaderboard, Standing, StoredGame
from rpschat.domain.text import name_key

START = Glicko()


def player_outcomes(
    winner: str | None, loser: str | None, players: tuple[str, str]
) -> list[tuple[str, str]]:
    """(name, "wins" | "losses" | "draws") for each player."""
    if winner is None:
        return [(player, "draws") for player in players]
    if loser is None:
        raise ValueError("a game with a winner needs a loser")
    return [(winner, "wins"), (loser, "losses")]


_SCORES = {"wins": 1.0, "draws": 0.5, "losses": 0.0}


RatingChanges = dict[str, tuple[Glicko, Glicko]]  # name -> (before, after) of a game


def apply_result(
    rows: dict[str, dict[str, Any]],
    result: GameResult,
    claimed: set[str],
    rated: bool = True,
    now_ms: int | None = None,
) -> RatingChanges:
    """Counts one game into `rows` (name key -> row: name, user_id, wins, losses, draws,
    rating, deviation, volatility), which hold the current standings of its players if they
    have any; returns each counted player's rating before and after (the same unless rated).

    A row belongs to the user who played under the name: when another user plays under it and
    the row's user has not claimed it, the row starts afresh (nobody inherits a guest's record,
    nor a released account's: ratings are read from the row the game counts into). A guest who
    has left for good gets no row. Ratings change only when both players are claimed users and
    `rated` (the pair's daily allowance, `RatedPairs`); a guest's stays at 1500 / 350: one game
    is one Glicko-2 rating period, both players rated from their ratings before it."""
    outcomes = player_outcomes(result.winner, result.loser, result.players)
    user_of = result.user_ids
    counted = {}
    for name, column in outcomes:
        row = _row_for(rows, name, user_of.get(name), result.gone, claimed)
        if row is not None:
            counted[name] = (row, column)
    # a rated game first ages each rating by the days since its last one (glicko.aged)
    before = {name: glicko_of(row, now_ms) for name, (row, _) in counted.items()}
    rated = rated and is_rated(result, claimed)
    changes: RatingChanges = {}
    for name, (row, column) in counted.items():
        row["name"] = name
        row["user_id"] = user_of.get(name)
        row[column] += 1
        if rated:
            opponent = result.players[1] if name == result.players[0] else result.players[0]
            after = rate(before[name], [(before.get(opponent, START), _SCORES[column])])
            row["rating"], row["deviation"] = after.rating, after.deviation
            row["volatility"] = after.volatility
            row["rated_at"] = now_ms
            changes[name] = (before[name], after)
        else:
            changes[name] = (before[name], before[name])
    return changes


def ratings_entry(changes: RatingChanges, rated: bool) -> dict[str, Any]:
    """What a finished game keeps of its ratings (its page shows them): JSON types."""

    def shown(rating: Glicko) -> dict[str, Any]:
        return {"rating": rating.rating, "deviation": rating.deviation}

    players = {
        name: {"before": shown(before), "after": shown(after)}
        for name, (before, after) in changes.items()
    }
    return {"rated": rated, "players": players}


def stored_game(result: GameResult, ratings: dict[str, Any] | None, ended_at: int) -> StoredGame:
    """A finished game as the results stores keep it for good (its page, profiles)."""
    return {
        "game_id": result.game_id,
        "players": list(result.players),
        "user_ids": dict(result.user_ids),
        "computer": result.computer,
        "best_of": result.best_of,
        "winner": result.winner,
        "score": dict(result.score),
        "reason": result.reason,
        "ended_at": ended_at,
        "rounds": [dict(entry) for entry in result.rounds],
        "ratings": ratings,
    }


def glicko_of(row: dict[str, Any], now_ms: int | None = None) -> Glicko:
    """The row's rating, aged by the days since its last rated game when `now_ms` is given."""
    rating = Glicko(row["rating"], row["deviation"], row["volatility"])
    rated_at = row.get("rated_at")
    if now_ms is None or rated_at is None:
        return rating
    return aged(rating, (now_ms - rated_at) / 86_400_000)


def is_rated(result: GameResult, claimed: set[str]) -> bool:
    """Between two claimed users: the game may change their ratings."""
    players = result.players
    return len(players) == 2 and all(result.user_ids.get(p) in claimed for p in players)


def _row_for(
    rows: dict[str, dict[str, Any]],
    name: str,
    user_id: str | None,
    gone: tuple[str, ...],
    claimed: set[str],
) -> dict[str, Any] | None:
    """The row a game of `user_id` under `name` counts into (made afresh if it was another
    unclaimed user's), or None: a guest who left, or a name whose row a claimed user owns."""
    if name in gone and user_id not in claimed:
        return None
    key = name_key(name)
    row = rows.get(key)
    owner = None if row is None else row["user_id"]
    if row is None or (owner not in (None, user_id) and owner not in claimed):
        row = rows[key] = new_row(name, user_id)  # rows from before user ids are adopted
    elif owner not in (None, user_id):
        return None  # a claimed user's row: nobody else ever counts into it
    return row


def pair_of(result: GameResult) -> str:
    """The two players' user ids, in order: the same pair whoever played first."""
    return "|".join(sorted(result.user_ids.get(p) or "" for p in result.players))


def day_of(ts_ms: int) -> int:
    """The UTC day (days since the epoch) of a time in ms."""
    return ts_ms // 86_400_000


class RatedPairs:
    """How many rated games each pair of claimed users played on a UTC day: only the first
    `per_day` change ratings (two accounts trading wins, issue 21: 61 forfeits in 20 s took
    them to 1758 and 1242). Counts are (day, pair) -> games, loaded for a batch and saved
    with it in SQL, kept in memory for memory://."""

    def __init__(self, per_day: int | None, counts: dict[tuple[int, str], int] | None = None):
        self.per_day = per_day
        self.counts = counts if counts is not None else {}

    def allow(self, result: GameResult, claimed: set[str], day: int) -> bool:
        """Whether the game may change ratings; counts it if so."""
        if not is_rated(result, claimed):
            return False
        key = (day, pair_of(result))
        played = self.counts.get(key, 0)
        if self.per_day is not None and played >= self.per_day:
            return False
        self.counts[key] = played + 1
        return True

    def forget_before(self, day: int) -> None:
        for key in [key for key in self.counts if key[0] < day]:
            del self.counts[key]


def new_row(name: str, user_id: str | None) -> dict[str, Any]:
    return {"name": name, "user_id": user_id, "wins": 0, "losses": 0, "draws": 0,
            "rating": START.rating, "deviation": START.deviation,
            "volatility": START.volatility, "rated_at": None}  # fmt: skip


def public_standing(row: dict[str, Any], claimed: bool) -> Standing:
    return {
        "name": row["name"],
        "wins": row["wins"],
        "losses": row["losses"],
        "draws": row["draws"],
        "rating": round(row["rating"]),
        "deviation": round(row["deviation"]),
        "provisional": is_provisional(row["deviation"]),
        "claimed": claimed,
    }


def rank(row: dict[str, Any], key: str) -> tuple[float, int, int, str]:
    return (-row["rating"], -row["wins"], row["losses"], key)


def leaderboard_of(
    rows: list[tuple[str, dict[str, Any]]], claimed: set[str], limit: int
) -> Leaderboard:
    """The leaderboard of (name key, row) pairs; `claimed`: the user ids of claimed names."""
    established = [(k, r) for k, r in rows if not is_provisional(r["deviation"])]
    ranked = sorted(established, key=lambda item: rank(item[1], item[0]))
    players = [public_standing(row, row["user_id"] in claimed) for _, row in ranked[:limit]]
    return Leaderboard(players, len(rows) - len(established))
