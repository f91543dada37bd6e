"""Game results and the leaderboard, in the same database as the chat history."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Connection, select

from rpschat.domain.game.match import GameResult
from rpschat.domain.ports import HistoryStore, ResultsStore, Runtime, Standing
from rpschat.domain.text import name_key
from rpschat.storage.database import (
    Database,
    StorageClosed,
    games,
    is_memory_url,
    standings,
)
from rpschat.storage.history import SqlHistory


def _outcomes(winner: str | None, loser: str | None, players: tuple[str, str]) -> list[tuple]:
    """(name, "wins" | "losses" | "draws") for each player."""
    if winner is None:
        return [(player, "draws") for player in players]
    if loser is None:
        raise ValueError("a game with a winner needs a loser")
    return [(winner, "wins"), (loser, "losses")]


class MemoryResults:
    """In-process results for `DATABASE_URL=memory://`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._standings: dict[str, Standing] = {}
        self._games: set[str] = set()
        self._closed = False

    def record(
        self,
        winner: str | None,
        loser: str | None,
        players: tuple[str, str],
        reason: str,
        best_of: int,
        score: dict[str, int],
        game_id: str,
    ) -> bool:
        result = GameResult(winner, loser, players, reason, best_of, score, game_id)
        with self._lock:
            if self._closed:
                raise StorageClosed()
            return self._count(result)

    def record_many(self, results: list[GameResult]) -> list[bool]:
        with self._lock:
            if self._closed:
                raise StorageClosed()
            return [self._count(result) for result in results]

    def _count(self, result: GameResult) -> bool:
        outcomes = _outcomes(result.winner, result.loser, result.players)
        if result.game_id in self._games:
            return False
        self._games.add(result.game_id)
        for name, column in outcomes:
            standing = self._standings.setdefault(
                name_key(name), {"name": name, "wins": 0, "losses": 0, "draws": 0}
            )
            standing["name"] = name
            standing[column] += 1
        return True

    def leaderboard(self, limit: int = 50) -> list[Standing]:
        with self._lock:
            if self._closed:
                raise StorageClosed()
            ranked = sorted(
                self._standings.items(),
                key=lambda item: (-item[1]["wins"], item[1]["losses"], item[0]),
            )
            return [dict(standing) for _, standing in ranked[:limit]]

    def close(self) -> None:
        with self._lock:
            self._closed = True


class SqlResults:
    """Results in SQLite or PostgreSQL: one transaction per batch of finished games, three
    statements whatever its size (which games are new, insert them, add up the standings)."""

    def __init__(self, url: str | Database | None, runtime: Runtime):
        self._owns_database = not isinstance(url, Database)
        self.database = Database(url, runtime) if self._owns_database else url
        self._now = runtime.now

    def record(
        self,
        winner: str | None,
        loser: str | None,
        players: tuple[str, str],
        reason: str,
        best_of: int,
        score: dict[str, int],
        game_id: str,
    ) -> bool:
        result = GameResult(winner, loser, players, reason, best_of, score, game_id)
        return self.record_many([result])[0]

    def record_many(self, results: list[GameResult]) -> list[bool]:
        if not results:
            return []
        return self.database.write(self._store_all, results, int(self._now() * 1000))

    def leaderboard(self, limit: int = 50) -> list[Standing]:
        return self.database.read(_select_leaderboard, limit)

    def close(self) -> None:
        if self._owns_database and not self.database.closed:
            self.database.close()

    def _store_all(self, conn: Connection, results: list[GameResult], ts: int) -> list[bool]:
        ids = [result.game_id for result in results]
        known = set(conn.execute(select(games.c.game_id).where(games.c.game_id.in_(ids))).scalars())
        new: list[bool] = []
        rows: list[dict[str, Any]] = []
        totals: dict[str, dict[str, Any]] = {}
        for result in results:
            is_new = result.game_id not in known
            new.append(is_new)
            if not is_new:
                continue
            known.add(result.game_id)  # twice in one batch counts once
            rows.append(_game_row(result, ts))
            for name, column in _outcomes(result.winner, result.loser, result.players):
                total = totals.setdefault(
                    name_key(name), {"name": name, "wins": 0, "losses": 0, "draws": 0}
                )
                total["name"] = name
                total[column] += 1
        if rows:
            conn.execute(self.database.insert(games), rows)
            insert = self.database.insert(standings)
            c, added = standings.c, insert.excluded
            upsert = insert.on_conflict_do_update(
                index_elements=[c.key],
                set_={
                    "name": added.name,
                    "wins": c.wins + added.wins,
                    "losses": c.losses + added.losses,
                    "draws": c.draws + added.draws,
                },
            )
            conn.execute(upsert, [{"key": key, **total} for key, total in totals.items()])
        return new


def _game_row(result: GameResult, ts: int) -> dict[str, Any]:
    return {
        "game_id": result.game_id,
        "player_a": result.players[0],
        "player_b": result.players[1],
        "winner": result.winner,
        "loser": result.loser,
        "reason": result.reason,
        "best_of": result.best_of,
        "score": result.score,
        "ts": ts,
    }


def _select_leaderboard(conn: Connection, limit: int) -> list[Standing]:
    c = standings.c
    query = (
        select(c.name, c.wins, c.losses, c.draws)
        .order_by(c.wins.desc(), c.losses, c.key)
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def open_results(
    database_url: str | None, runtime: Runtime, shared_with: HistoryStore | None = None
) -> ResultsStore:
    """Results for a DATABASE_URL (see `open_history`).

    `shared_with`: the history store opened on the same URL, whose engine and connections
    to reuse (it then owns them: close the history store last).
    """
    if is_memory_url(database_url):
        return MemoryResults()
    if isinstance(shared_with, SqlHistory):
        return SqlResults(shared_with.database, runtime)
    return SqlResults(database_url, runtime)
