"""Standings: wins, losses and draws per name, and Elo ratings between claimed users.

Pure rules over rows (name key -> row: name, user_id, wins, losses, draws, rating), which the
results stores keep: in this process (storage/memory/results.py) or in the database
(storage/sql/results.py).
"""

from __future__ import annotations

from typing import Any

from rpschat.domain.game.match import GameResult
from rpschat.domain.game.ports import Standing
from rpschat.domain.text import name_key

ELO_START = 1500.0
ELO_K = 32.0


def player_outcomes(
    winner: str | None, loser: str | None, players: tuple[str, str]
) -> list[tuple[str, str]]:
    """(name, "wins" | "losses" | "draws") for each player."""
    if winner is None:
        return [(player, "draws") for player in players]
    if loser is None:
        raise ValueError("a game with a winner needs a loser")
    return [(winner, "wins"), (loser, "losses")]


def elo(rating: float, opponent: float, score: float) -> float:
    """The rating after one game: `score` 1 for a win, 0.5 for a draw, 0 for a loss."""
    expected = 1 / (1 + 10 ** ((opponent - rating) / 400))
    return rating + ELO_K * (score - expected)


_SCORES = {"wins": 1.0, "draws": 0.5, "losses": 0.0}


def apply_result(rows: dict[str, dict[str, Any]], result: GameResult, claimed: set[str]) -> None:
    """Counts one game into `rows` (name key -> row: name, user_id, wins, losses, draws,
    rating), which hold the current standings of its players if they have any.

    A row belongs to the user who played under the name: when another user plays under it and
    the row's user has not claimed it, the row starts afresh (nobody inherits a guest's record).
    A guest who has left for good gets no row. Ratings change only when both players are
    claimed users; a guest's stays at 1500."""
    outcomes = player_outcomes(result.winner, result.loser, result.players)
    user_of = result.user_ids
    rated = len(result.players) == 2 and all(user_of.get(p) in claimed for p in result.players)
    before = {
        name: rows.get(name_key(name), {}).get("rating", ELO_START) for name in result.players
    }
    for name, column in outcomes:
        user_id = user_of.get(name)
        if name in result.gone and user_id not in claimed:
            continue
        key = name_key(name)
        row = rows.get(key)
        owner = None if row is None else row["user_id"]
        if row is None or (owner not in (None, user_id) and owner not in claimed):
            row = rows[key] = new_row(name, user_id)  # rows from before user ids are adopted
        elif owner not in (None, user_id):
            continue  # a claimed user's row: nobody else ever counts into it
        row["name"] = name
        row["user_id"] = user_id
        row[column] += 1
        if rated:
            opponent = result.players[1] if name == result.players[0] else result.players[0]
            row["rating"] = elo(before[name], before[opponent], _SCORES[column])


def new_row(name: str, user_id: str | None) -> dict[str, Any]:
    return {"name": name, "user_id": user_id, "wins": 0, "losses": 0, "draws": 0,
            "rating": ELO_START}  # fmt: skip


def public_standing(row: dict[str, Any], claimed: bool) -> Standing:
    return {
        "name": row["name"],
        "wins": row["wins"],
        "losses": row["losses"],
        "draws": row["draws"],
        "rating": round(row["rating"]),
        "claimed": claimed,
    }


def rank(row: dict[str, Any], key: str) -> tuple[float, int, int, str]:
    return (-row["rating"], -row["wins"], row["losses"], key)
