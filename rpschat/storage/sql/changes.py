"""The changes to stored messages (the domain's `ChangeLog`) in the SQL database. Each row is
written by the transaction that makes the change (sql/history.py, sql/dms.py): `record`."""

from __future__ import annotations

from sqlalchemy import Connection, func, insert, or_, select

from rpschat.domain.ports import LOBBY, Change
from rpschat.storage.sql.database import Database, message_changes


class SqlChanges:
    def __init__(self, database: Database):
        self.database = database

    def changes_after(self, user_id: str, seq: int, limit: int) -> list[Change]:
        c = message_changes.c
        query = (
            select(c.seq, c.kind, c.message_id, c.room)
            .where(c.seq > seq, or_(c.room == LOBBY, c.user_a == user_id, c.user_b == user_id))
            .order_by(c.seq)
            .limit(limit)
        )
        rows = self.database.read(lambda conn: conn.execute(query).all())
        return [Change(r.seq, r.kind, r.message_id, r.room is None) for r in rows]

    def last_seq(self) -> int:
        query = select(func.coalesce(func.max(message_changes.c.seq), 0))
        return int(self.database.read(lambda conn: conn.execute(query).scalar_one()))


def record(
    conn: Connection,
    kind: str,
    message_id: int,
    ts: int,
    room: str | None = None,
    users: tuple[str, str] | None = None,
) -> int:
    """Inserts the change in the caller's transaction; returns its seq."""
    user_a, user_b = users if users is not None else (None, None)
    row = dict(kind=kind, message_id=message_id, room=room, user_a=user_a, user_b=user_b, ts=ts)
    statement = insert(message_changes).values(row).returning(message_changes.c.seq)
    return int(conn.execute(statement).scalar_one())
