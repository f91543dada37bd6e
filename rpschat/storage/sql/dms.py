"""Direct messages (the domain's `DmStore`) in the SQL database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from rpschat.domain.ports import DirectMessage
from rpschat.storage.common import pair_of
from rpschat.storage.sql.database import Database, direct_messages


class SqlDms:
    """One transaction per message, serialized (PostgreSQL's advisory lock, SQLite's write
    lock), so ids grow in commit order: a resume's replay relies on it."""

    def __init__(self, database: Database):
        self.database = database

    def append(self, sender_id, sender, recipient_id, recipient, text, client_id, unread):
        row = {
            "pair": pair_of(sender_id, recipient_id), "sender_id": sender_id, "sender": sender,
            "recipient_id": recipient_id, "recipient": recipient, "text": text,
            "ts": int(self.database.runtime.now() * 1000), "client_id": client_id,
            "unread": unread,
        }  # fmt: skip
        return self.database.write(_insert, row, serialize=True)

    def conversation(self, user_id, other_id, before=None, limit=50):
        return self.database.read(_conversation, pair_of(user_id, other_id), before, limit)

    def since(self, user_id, after_id, limit):
        c = direct_messages.c
        where = and_(or_(c.sender_id == user_id, c.recipient_id == user_id), c.id > after_id)
        return self.database.read(_select, where, limit)

    def unread(self, user_id, after_id, limit):
        c = direct_messages.c
        where = and_(c.recipient_id == user_id, c.unread.is_(True), c.id > after_id)
        return self.database.read(_select, where, limit)

    def mark_read(self, user_id):
        c = direct_messages.c
        statement = (
            update(direct_messages)
            .where(c.recipient_id == user_id, c.unread.is_(True))
            .values(unread=False)
        )
        self.database.write(lambda conn: conn.execute(statement))


def _message(row: Any) -> DirectMessage:
    data = dict(row._mapping)
    data.pop("pair", None)
    return DirectMessage(**data)


def _insert(conn: Connection, row: dict[str, Any]) -> tuple[DirectMessage, bool]:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(direct_messages)
        .values(row)
        .on_conflict_do_nothing(index_elements=["sender_id", "client_id"])
        .returning(direct_messages.c.id)
    )
    new_id = conn.execute(statement).scalar()
    if new_id is not None:
        return DirectMessage(id=new_id, **{k: v for k, v in row.items() if k != "pair"}), False
    c = direct_messages.c
    known = conn.execute(
        select(direct_messages).where(
            c.sender_id == row["sender_id"], c.client_id == row["client_id"]
        )
    ).first()
    return _message(known), True


def _conversation(
    conn: Connection, pair: str, before: int | None, limit: int
) -> tuple[list[DirectMessage], bool]:
    c = direct_messages.c
    query = select(direct_messages).where(c.pair == pair)
    if before is not None:
        query = query.where(c.id < before)
    rows = conn.execute(query.order_by(c.id.desc()).limit(limit + 1)).all()
    return [_message(row) for row in reversed(rows[:limit])], len(rows) > limit


def _select(conn: Connection, where: Any, limit: int) -> list[DirectMessage]:
    query = select(direct_messages).where(where).order_by(direct_messages.c.id).limit(limit)
    return [_message(row) for row in conn.execute(query)]
