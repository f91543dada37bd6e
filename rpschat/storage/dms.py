"""Direct messages (the domain's `DmStore`): in the SQL database, or in memory for
`DATABASE_URL=memory://`."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from rpschat.domain.ports import (
    DirectMessage,
    Runtime,
    UnreadCapReached,
    UnreadCaps,
    UnreadSender,
)
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

    def append(
        self, sender_id, sender, recipient_id, recipient, text, client_id, unread, caps=None
    ):
        with self._lock:
            if self.closed:
                raise StorageClosed()
            if client_id is not None and (sender_id, client_id) in self._by_client:
                return self._by_client[(sender_id, client_id)], True
            if unread and caps is not None:
                held = [m for m in self._messages if m.recipient_id == recipient_id and m.unread]
                from_sender = sum(1 for m in held if m.sender_id == sender_id)
                check_caps(caps, len(held), from_sender)
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

    def _unread(self, user_id):
        return [m for m in reversed(self._messages) if m.recipient_id == user_id and m.unread]

    def unread_senders(self, user_id, limit):
        with self._lock:
            unread = self._unread(user_id)
        senders: dict[str, UnreadSender] = {}
        for m in unread:  # newest first: a sender's first one is its newest
            known = senders.get(m.sender_id)
            senders[m.sender_id] = UnreadSender(
                m.sender_id, known.sender if known else m.sender,
                (known.count if known else 0) + 1, known.newest_id if known else m.id,
            )  # fmt: skip
        return len(unread), list(senders.values())[:limit]

    def unread_newest(self, user_id, limit, per_sender=None, sender_id=None):
        with self._lock:
            unread = self._unread(user_id)
        taken: dict[str, int] = {}
        found = []
        for m in unread:
            if sender_id is not None and m.sender_id != sender_id:
                continue
            if per_sender is not None and taken.get(m.sender_id, 0) >= per_sender:
                continue
            taken[m.sender_id] = taken.get(m.sender_id, 0) + 1
            found.append(m)
        return found[:limit]

    def mark_read(self, user_id, ids):
        self._mark(lambda m: m.recipient_id == user_id and m.id in set(ids))

    def mark_read_through(self, user_id, last_id):
        self._mark(lambda m: m.recipient_id == user_id and m.id <= last_id)

    def _mark(self, delivered):
        with self._lock:
            for index, m in enumerate(self._messages):
                if m.unread and delivered(m):
                    self._messages[index] = dataclasses.replace(m, unread=False)

    def sender_named(self, recipient_id, name):
        with self._lock:
            return next(
                (m.sender_id for m in reversed(self._messages)
                 if m.recipient_id == recipient_id and m.sender == name),
                None,
            )  # fmt: skip

    def close(self) -> None:
        self.closed = True


class SqlDms:
    """One transaction per message, serialized (PostgreSQL's advisory lock, SQLite's write
    lock), so ids grow in commit order: a resume's replay relies on it."""

    def __init__(self, database: Database):
        self.database = database

    def append(
        self, sender_id, sender, recipient_id, recipient, text, client_id, unread, caps=None
    ):
        row = {
            "pair": pair_of(sender_id, recipient_id), "sender_id": sender_id, "sender": sender,
            "recipient_id": recipient_id, "recipient": recipient, "text": text,
            "ts": int(self.database.runtime.now() * 1000), "client_id": client_id,
            "unread": unread,
        }  # fmt: skip
        return self.database.write(_insert, row, caps if unread else None, serialize=True)

    def conversation(self, user_id, other_id, before=None, limit=50):
        return self.database.read(_conversation, pair_of(user_id, other_id), before, limit)

    def since(self, user_id, after_id, limit):
        c = direct_messages.c
        where = and_(or_(c.sender_id == user_id, c.recipient_id == user_id), c.id > after_id)
        return self.database.read(_select, where, limit)

    def unread_senders(self, user_id, limit):
        return self.database.read(_unread_senders, user_id, limit)

    def unread_newest(self, user_id, limit, per_sender=None, sender_id=None):
        return self.database.read(_unread_newest, user_id, limit, per_sender, sender_id)

    def mark_read(self, user_id, ids):
        if ids:
            self._mark_read(direct_messages.c.id.in_(list(ids)), user_id)

    def mark_read_through(self, user_id, last_id):
        self._mark_read(direct_messages.c.id <= last_id, user_id)

    def _mark_read(self, which, user_id):
        c = direct_messages.c
        statement = (
            update(direct_messages)
            .where(c.recipient_id == user_id, c.unread.is_(True), which)
            .values(unread=False)
        )
        self.database.write(lambda conn: conn.execute(statement))

    def sender_named(self, recipient_id, name):
        c = direct_messages.c
        query = (
            select(c.sender_id)
            .where(c.recipient_id == recipient_id, c.sender == name)
            .order_by(c.id.desc())
            .limit(1)
        )
        return self.database.read(lambda conn: conn.execute(query).scalar())

    def close(self) -> None:  # the history store owns the database
        pass


def _message(row: Any) -> DirectMessage:
    data = dict(row._mapping)
    data.pop("pair", None)
    return DirectMessage(**data)


def check_caps(caps: UnreadCaps, held: int, from_sender: int) -> None:
    if caps.per_sender is not None and from_sender >= caps.per_sender:
        raise UnreadCapReached(per_sender=True, cap=caps.per_sender)
    if caps.per_recipient is not None and held >= caps.per_recipient:
        raise UnreadCapReached(per_sender=False, cap=caps.per_recipient)


def _insert(
    conn: Connection, row: dict[str, Any], caps: UnreadCaps | None
) -> tuple[DirectMessage, bool]:
    c = direct_messages.c
    if row["client_id"] is not None:  # a resend is answered before any cap is looked at
        known = conn.execute(
            select(direct_messages).where(
                c.sender_id == row["sender_id"], c.client_id == row["client_id"]
            )
        ).first()
        if known is not None:
            return _message(known), True
    if caps is not None:  # counted in this (serialized) transaction: no race past a cap
        mine = and_(c.recipient_id == row["recipient_id"], c.unread.is_(True))
        held, from_sender = conn.execute(
            select(func.count(), func.count().filter(c.sender_id == row["sender_id"])).where(mine)
        ).one()
        check_caps(caps, held, from_sender)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(direct_messages)
        .values(row)
        .on_conflict_do_nothing(index_elements=["sender_id", "client_id"])
        .returning(direct_messages.c.id)
    )
    new_id = conn.execute(statement).scalar()
    return DirectMessage(id=new_id, **{k: v for k, v in row.items() if k != "pair"}), False


def _unread_senders(conn: Connection, user_id: str, limit: int) -> tuple[int, list[UnreadSender]]:
    c = direct_messages.c
    mine = and_(c.recipient_id == user_id, c.unread.is_(True))
    total = conn.execute(select(func.count()).where(mine)).scalar_one()
    if not total:
        return 0, []
    newest = func.max(c.id)
    rows = conn.execute(
        select(c.sender_id, func.count(), newest).where(mine).group_by(c.sender_id)
        .order_by(newest.desc()).limit(limit)
    ).all()  # fmt: skip
    names = dict(
        conn.execute(select(c.id, c.sender).where(c.id.in_([row[2] for row in rows]))).all()
    )
    return total, [
        UnreadSender(sender_id, names[last], count, last) for sender_id, count, last in rows
    ]


def _unread_newest(
    conn: Connection, user_id: str, limit: int, per_sender: int | None, sender_id: str | None
) -> list[DirectMessage]:
    c = direct_messages.c
    mine = and_(c.recipient_id == user_id, c.unread.is_(True))
    if sender_id is not None:
        mine = and_(mine, c.sender_id == sender_id)
    if per_sender is None:
        query = select(direct_messages).where(mine).order_by(c.id.desc()).limit(limit)
        return [_message(row) for row in conn.execute(query)]
    rank = func.row_number().over(partition_by=c.sender_id, order_by=c.id.desc()).label("rank")
    ranked = select(direct_messages, rank).where(mine).subquery()
    query = (
        select(*(ranked.c[column.name] for column in direct_messages.columns))
        .where(ranked.c.rank <= per_sender)
        .order_by(ranked.c.id.desc())
        .limit(limit)
    )
    return [_message(row) for row in conn.execute(query)]


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
