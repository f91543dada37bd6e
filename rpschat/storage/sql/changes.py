"""The changes to stored messages (the domain's `ChangeLog`) in the SQL database. Each row is
written by the transaction that makes the change (sql/history.py, sql/dms.py): `record`."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection, and_, delete, func, insert, or_, select

from rpschat.domain.ports import LOBBY, Change
from rpschat.domain.replies import Reaction
from rpschat.storage.sql.database import Database, message_changes, reactions


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


def toggle_reaction(
    conn: Connection, dm: bool, message_id: int, user_id: str, name: str, emoji: str, ts: int
) -> list[Reaction]:
    """Adds the user's emoji to the message, or takes it back; the message's reactions after."""
    c = reactions.c
    mine = and_(c.dm == dm, c.message_id == message_id, c.emoji == emoji, c.user_id == user_id)
    if conn.execute(delete(reactions).where(mine)).rowcount == 0:
        row = dict(dm=dm, message_id=message_id, emoji=emoji, user_id=user_id, name=name, ts=ts)
        conn.execute(insert(reactions).values(row))
    return reactions_of(conn, dm, [message_id]).get(message_id, [])


def reactions_of(conn: Connection, dm: bool, message_ids: list[int]) -> dict[int, list[Reaction]]:
    if not message_ids:
        return {}
    c = reactions.c
    query = (
        select(c.message_id, c.emoji, c.name)
        .where(c.dm == dm, c.message_id.in_(message_ids))
        .order_by(c.message_id, c.ts, c.user_id)
    )
    names: dict[int, dict[str, list[str]]] = defaultdict(dict)
    for row in conn.execute(query):
        names[row.message_id].setdefault(row.emoji, []).append(row.name)
    return {
        message_id: [Reaction(emoji, who, len(who)) for emoji, who in emojis.items()]
        for message_id, emojis in names.items()
    }


def forget_reactions(conn: Connection, dm: bool, message_id: int) -> None:
    c = reactions.c
    conn.execute(delete(reactions).where(c.dm == dm, c.message_id == message_id))
