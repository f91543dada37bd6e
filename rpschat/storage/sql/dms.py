"""Direct messages (the domain's `DmStore`) in the SQL database."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from rpschat.domain.ports import (
    DirectMessage,
    DmThread,
    Revised,
    SearchQuery,
    UnreadCaps,
    UnreadSender,
)
from rpschat.domain.replies import Reaction
from rpschat.domain.search import search_text
from rpschat.storage.common import check_caps, pair_of
from rpschat.storage.sql.changes import forget_reactions, reactions_of, record, toggle_reaction
from rpschat.storage.sql.database import Database, direct_messages
from rpschat.storage.sql.search import matching


class SqlDms:
    """One transaction per message, serialized (PostgreSQL's advisory lock, SQLite's write
    lock), so ids grow in commit order: a resume's replay relies on it."""

    def __init__(self, database: Database):
        self.database = database

    def append(
        self, sender_id, sender, recipient_id, recipient, text, client_id, unread, caps=None,
        reply_to=None,
    ):  # fmt: skip
        row = {
            "pair": pair_of(sender_id, recipient_id), "sender_id": sender_id, "sender": sender,
            "recipient_id": recipient_id, "recipient": recipient, "text": text,
            "ts": int(self.database.runtime.now() * 1000), "client_id": client_id,
            "unread": unread, "reply_to": reply_to,
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

    def threads(self, user_id, limit):
        return self.database.read(_threads, user_id, limit)

    def mark_read_from(self, user_id, sender_id, last_id):
        c = direct_messages.c
        self._mark_read(and_(c.sender_id == sender_id, c.id <= last_id), user_id)

    def mark_read(self, user_id, ids):
        if ids:
            self._mark_read(direct_messages.c.id.in_(list(ids)), user_id)

    def mark_read_through(self, user_id, last_id, after_id=0):
        c = direct_messages.c
        self._mark_read(and_(c.id > after_id, c.id <= last_id), user_id)

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

    def get(self, message_id):
        return self.database.read(_get, message_id)

    def get_many(self, message_ids):
        query = select(direct_messages).where(direct_messages.c.id.in_(list(message_ids)))
        rows = self.database.read(lambda conn: conn.execute(query).all())
        return {row.id: _message(row) for row in rows}

    def react(self, message_id, user_id, name, emoji, ts):
        return self.database.write(_react, message_id, user_id, name, emoji, ts, serialize=True)

    def search(self, user_id, query, before, limit):
        return self.database.read(_search, user_id, query, before, limit)

    def reactions_of(self, message_ids):
        return self.database.read(reactions_of, True, list(message_ids))

    def edit(self, message_id, text, edited_at):
        return self.database.write(_edit, message_id, text, edited_at, serialize=True)

    def delete(self, message_id, ts):
        return self.database.write(_delete, message_id, ts, serialize=True)


def _get(conn: Connection, message_id: int) -> DirectMessage | None:
    row = conn.execute(select(direct_messages).where(direct_messages.c.id == message_id)).first()
    return None if row is None else _message(row)


def _search(
    conn: Connection, user_id: str, query: SearchQuery, before: int, limit: int
) -> list[DirectMessage]:
    c = direct_messages.c
    mine = or_(c.sender_id == user_id, c.recipient_id == user_id)
    where = and_(mine, c.id < before, matching(conn, direct_messages, query))
    if query.sender_id is not None:
        where = and_(where, c.sender_id == query.sender_id)
    elif query.sender_name is not None:
        where = and_(where, c.sender == query.sender_name)
    query_rows = select(direct_messages).where(where).order_by(c.id.desc()).limit(limit)
    return [_message(row) for row in conn.execute(query_rows)]


def _react(
    conn: Connection, message_id: int, user_id: str, name: str, emoji: str, ts: int
) -> Revised[list[Reaction]] | None:
    message = _get(conn, message_id)
    if message is None:
        return None
    reactions = toggle_reaction(conn, True, message_id, user_id, name, emoji, ts)
    users = (message.sender_id, message.recipient_id)
    return Revised(reactions, record(conn, "react", message_id, ts, users=users))


def _edit(
    conn: Connection, message_id: int, text: str, edited_at: int
) -> Revised[DirectMessage] | None:
    message = _get(conn, message_id)
    if message is None:
        return None
    c = direct_messages.c
    conn.execute(
        update(direct_messages)
        .where(c.id == message_id)
        .values(text=text, edited_at=edited_at, search_text=search_text(text))
    )
    seq = record(
        conn, "edit", message_id, edited_at, users=(message.sender_id, message.recipient_id)
    )
    return Revised(dataclasses.replace(message, text=text, edited_at=edited_at), seq)


def _delete(conn: Connection, message_id: int, ts: int) -> Revised[DirectMessage] | None:
    message = _get(conn, message_id)
    if message is None:
        return None
    conn.execute(delete(direct_messages).where(direct_messages.c.id == message_id))
    forget_reactions(conn, True, message_id)
    seq = record(conn, "delete", message_id, ts, users=(message.sender_id, message.recipient_id))
    return Revised(message, seq)


def _message(row: Any) -> DirectMessage:
    data = dict(row._mapping)
    data.pop("pair", None)
    data.pop("search_text", None)
    return DirectMessage(**data)


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
        .values({**row, "search_text": search_text(row["text"])})
        .on_conflict_do_nothing(index_elements=["sender_id", "client_id"])
        .returning(direct_messages.c.id)
    )
    new_id = conn.execute(statement).scalar_one()  # serialized: no other insert raced it
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
    senders = [UnreadSender(sender_id, names[last], count, last) for sender_id, count, last in rows]
    return total, senders


def _threads(conn: Connection, user_id: str, limit: int) -> list[DmThread]:
    c = direct_messages.c
    mine = or_(c.sender_id == user_id, c.recipient_id == user_id)
    newest = func.max(c.id)
    last_ids = [
        row[0]
        for row in conn.execute(
            select(newest).where(mine).group_by(c.pair).order_by(newest.desc()).limit(limit)
        )
    ]
    if not last_ids:
        return []
    lasts = [_message(row) for row in conn.execute(
        select(direct_messages).where(c.id.in_(last_ids)).order_by(c.id.desc())
    )]  # fmt: skip
    unread: dict[str, int] = dict(
        conn.execute(
            select(c.sender_id, func.count())
            .where(c.recipient_id == user_id, c.unread.is_(True))
            .group_by(c.sender_id)
        ).all()
    )
    threads = []
    for last in lasts:
        other = last.recipient_id if last.sender_id == user_id else last.sender_id
        threads.append(DmThread(other, last, unread.get(other, 0)))
    return threads


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
