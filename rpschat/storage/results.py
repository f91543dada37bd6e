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
    """Results in SQLite or PostgreSQL: one small transaction per finished game."""

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
        return self.database.write(self._store, self._row(result))

    def record_many(self, results: list[GameResult]) -> list[bool]:
        rows = [self._row(result) for result in results]
        return self.database.write(self._store_all, rows)

    def _row(self, result: GameResult) -> tuple[dict[str, Any], list[tuple]]:
        game = dict(
            game_id=result.game_id,
            player_a=result.players[0],
            player_b=result.players[1],
            winner=result.winner,
            loser=result.loser,
            reason=result.reason,
            best_of=result.best_of,
            score=result.score,
            ts=int(self._now() * 1000),
        )
        return game, _outcomes(result.winner, result.loser, result.players)

    def leaderboard(self, limit: int = 50) -> list[Standing]:
        return self.database.read(_select_leaderboard, limit)

    def close(self) -> None:
        if self._owns_database and not self.database.closed:
            self.database.close()

    def _store_all(
        self, conn: Connection, rows: list[tuple[dict[str, Any], list[tuple]]]
    ) -> list[bool]:
        return [self._store(conn, row) for row in rows]

    def _store(self, conn: Connection, row: tuple[dict[str, Any], list[tuple]]) -> bool:
        game, outcomes = row
        insert_game = self.database.insert(games).values(game).on_conflict_do_nothing()
        # RETURNING, not rowcount: psycopg's rowcount reads -1 here
        if conn.execute(insert_game.returning(games.c.game_id)).first() is None:
            return False
        for name, column in outcomes:
            counts = {"wins": 0, "losses": 0, "draws": 0, column: 1}
            insert = self.database.insert(standings).values(key=name_key(name), name=name, **counts)
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[standings.c.key],
                    set_={"name": insert.excluded.name, column: standings.c[column] + 1},
                )
            )
        return True


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
