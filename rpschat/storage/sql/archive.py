"""Each player's finished games (the game's `GameArchive`, for `my_games` and the computer's
memory of a player) in the SQL database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from rpschat.domain.game.ports import GameRecord
from rpschat.storage.sql.database import Database, game_records


class SqlArchive:
    def __init__(self, database: Database):
        self.database = database

    def add_many(self, records: list[GameRecord]) -> None:
        if records:
            self.database.write(_insert_new, [_row(record) for record in records])

    def page(
        self, user_id: str, before: int | None = None, limit: int = 20
    ) -> tuple[list[GameRecord], bool]:
        return self.database.read(_select_page, user_id, before, limit)

    def forget_user(self, user_id: str) -> None:
        self.database.write(_delete_user, user_id)


def _row(record: GameRecord) -> dict[str, Any]:
    return {
        "user_id": record.user_id,
        "game_id": record.game_id,
        "name": record.name,
        "opponent": record.opponent,
        "computer": record.computer,
        "best_of": record.best_of,
        "winner": record.winner,
        "score": dict(record.score),
        "rounds": [dict(entry) for entry in record.rounds],
        "reason": record.reason,
        "ended_at": record.ended_at,
    }


def _insert_new(conn: Connection, rows: list[dict[str, Any]]) -> None:
    # one statement per row: ON CONFLICT DO NOTHING keeps a (user, game) stored once, even when
    # two nodes record the same game (the leaderboard's game id check does the same for results)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(game_records)
    conn.execute(insert.on_conflict_do_nothing(index_elements=["user_id", "game_id"]), rows)


def _select_page(
    conn: Connection, user_id: str, before: int | None, limit: int
) -> tuple[list[GameRecord], bool]:
    c = game_records.c
    query = select(game_records).where(c.user_id == user_id)
    if before is not None:
        query = query.where(c.id < before)
    rows = conn.execute(query.order_by(c.id.desc()).limit(limit + 1)).all()
    return [GameRecord(**row._mapping) for row in rows[:limit]], len(rows) > limit


def _delete_user(conn: Connection, user_id: str) -> None:
    conn.execute(delete(game_records).where(game_records.c.user_id == user_id))
