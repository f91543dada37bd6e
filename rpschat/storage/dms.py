"""Direct messages (the domain's `DmStore`): in the SQL database, or in memory for
`DATABASE_URL=memory://`."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from rpschat.domain.ports import DirectMessage, Runtime
from rpschat.storage.database import Database, StorageClosed, direct_messages


def pair_of(user_id: str, other_id: str) -> str:
    return "|".join(sorted((user_id, other_id)))


class MemoryDms:
    def __init__(self, runtime: Runtime | None = None) -> None:
        self._now = runtime.now if runtime else time.time
        self._lock = threading.Lock()
        self._messages: list[DirectMessage] = []  # in id order
        self._by_client: dict[tuple[str, str], DirectMessage] = {}
        self.closed = False

    def append(self, sender_id, sender, recipient_id, recipient, text, client_id, unread):
        with self._lock:
            if self.closed:
                raise StorageClosed()
            if client_id is not None and (sender_id, client_id) in self._by_client:
                return self._by_client[(sender_id, client_id)], True
            message = DirectMessage(
                len(self._messages) + 1, sender_id, sender, recipient_id, recipient, text,
                int(self._now() * 1000), client_id, unread,
            )  # fmt: skip
            self._messages.append(message)
            if client_id is not None:
                self._by_client[(sender_id, client_id)] = message
            return message, False

    def conversation(self, user_id, other_id, before=None, limit=50):
        pair = pair_of(user_id, other_id)
        with self._lock:
            found = [m for m in self._messages if pair_of(m.sender_id, m.recipient_id) == pair]
        if before is not None:
            found = [m for m in found if m.id < before]
        return found[-limit:], len(found) > limit

    def since(self, user_id, after_id, limit):
        with self._lock:
            return [
                m for m in self._messages[after_id:]
                if user_id in (m.sender_id, m.recipient_id)
            ][:limit]  # fmt: skip

    def unread(self, user_id, after_id, limit):
        with self._lock:
            return [m for m in self._messages[after_id:] if m.recipient_id == user_id and m.unread][
                :limit
            ]

    def mark_read(self, user_id):
        with self._lock:
            for index, m in enumerate(self._messages):
                if m.recipient_id == user_id and m.unread:
                    self._messages[index] = dataclasses.replace(m, unread=False)

    def close(self) -> None:
        self.closed = True


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

    def close(self) -> None:  # the history store owns the database
        pass


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


def open_dms(history: Any, runtime: Runtime) -> MemoryDms | SqlDms:
    """In the history's database, or in memory when it has none (memory://)."""
    database = getattr(history, "database", None)
    return MemoryDms(runtime) if database is None else SqlDms(database)
