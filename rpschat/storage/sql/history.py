"""Chat history in SQLite or PostgreSQL: messages are stored (group commit) before they are
acked, and delivered in id order."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import InterfaceError, OperationalError

from rpschat.domain.ports import (
    LOBBY,
    Event,
    OnCommit,
    Revised,
    Runtime,
    SearchQuery,
    StoredMessage,
)
from rpschat.domain.replies import Reaction
from rpschat.domain.search import search_text
from rpschat.storage.common import (
    OnBatch,
    StorageClosed,
    StorageUnavailable,
    check_page_args,
    notify_commit,
)
from rpschat.storage.sql.changes import forget_reactions, reactions_of, record, toggle_reaction
from rpschat.storage.sql.database import Database, messages
from rpschat.storage.sql.search import matching

logger = logging.getLogger(__name__)


@dataclass
class _Pending:
    """An append waiting in the writer's queue, and its outcome once the batch is committed."""

    row: dict[str, Any]
    on_commit: OnCommit | None
    done: Event
    result: tuple[StoredMessage, bool] | None = None
    error: BaseException | None = None


_STOP = object()
_LOOKUP_CHUNK = 100  # (user_id, client_id) pairs per duplicate lookup


class SqlHistory:
    """History in SQLite or PostgreSQL, with group commit.

    One writer task takes whatever appends are queued (up to `batch_max`), commits them in one
    transaction on an OS thread, calls their on_commit callbacks in id order, then wakes their
    senders. While a batch commits the next one queues up, so a busy server makes few, large
    transactions, and each sender waits only for its own batch.
    """

    def __init__(
        self,
        database: Database,
        runtime: Runtime,
        batch_max: int = 256,
        on_batch: OnBatch | None = None,  # told of every batch committed (metrics)
    ):
        self.database = database
        self.batches_committed = 0
        self._on_batch = on_batch
        self._runtime = runtime
        self._batch_max = batch_max
        self._queue = runtime.queue()
        # Guards `_closed` against appends racing close(): nothing may queue after _STOP.
        self._lock = threading.Lock()
        self._closed = False
        self._stopped = runtime.event()
        runtime.spawn(self._write_loop)

    def append(
        self,
        room: str,
        user_id: str,
        name: str,
        text: str,
        client_id: str | None = None,
        on_commit: OnCommit | None = None,
        reply_to: int | None = None,
    ) -> tuple[StoredMessage, bool]:
        row = dict(
            room=room, user_id=user_id, name=name, text=text, client_id=client_id, reply_to=reply_to
        )
        pending = _Pending(row, on_commit, self._runtime.event())
        with self._lock:
            if self._closed:
                raise StorageClosed()
            self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise StorageUnavailable() from pending.error
        assert pending.result is not None  # set before `done`, unless `error` is
        return pending.result

    def page(
        self, room: str, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> tuple[list[StoredMessage], bool]:
        check_page_args(before, after)
        self._check_open()
        return self.database.read(_select_page, room, before, after, limit)

    def after(self, room: str, last_id: int, limit: int = 1000) -> list[StoredMessage]:
        return self.page(room, after=last_id, limit=limit)[0]

    def get(self, message_id: int) -> StoredMessage | None:
        self._check_open()
        return self.database.read(_select_one, message_id)

    def get_many(self, message_ids: list[int]) -> dict[int, StoredMessage]:
        self._check_open()
        query = select(messages).where(messages.c.id.in_(message_ids))
        rows = self.database.read(lambda conn: conn.execute(query).all())
        return {row.id: _message(row) for row in rows}

    def react(
        self, message_id: int, user_id: str, name: str, emoji: str, ts: int
    ) -> Revised[list[Reaction]] | None:
        self._check_open()
        return self.database.write(_react, message_id, user_id, name, emoji, ts, serialize=True)

    def search(self, query: SearchQuery, before: int, limit: int) -> list[StoredMessage]:
        self._check_open()
        return self.database.read(_search, query, before, limit)

    def count_since(self, room: str, since_ms: int) -> int:
        self._check_open()
        c = messages.c
        query = select(func.count()).where(c.room == room, c.ts >= since_ms)
        return int(self.database.read(lambda conn: conn.execute(query).scalar_one()))

    def posted_since(
        self, user_id: str | None, name: str, since_ms: int, limit: int
    ) -> list[StoredMessage]:
        self._check_open()
        c = messages.c
        who = c.user_id == user_id if user_id is not None else c.name == name
        query = select(messages).where(who, c.ts >= since_ms).order_by(c.id).limit(limit)
        return self.database.read(lambda conn: [_message(row) for row in conn.execute(query)])

    def reactions_of(self, message_ids: list[int]) -> dict[int, list[Reaction]]:
        self._check_open()
        return self.database.read(reactions_of, False, message_ids)

    def edit(self, message_id: int, text: str, edited_at: int) -> Revised[StoredMessage] | None:
        self._check_open()
        # serialize: change numbers are given in commit order across processes
        return self.database.write(_edit_one, message_id, text, edited_at, serialize=True)

    def delete(self, message_id: int) -> Revised[StoredMessage] | None:
        """The row goes (its id is never reused); a resend of it with the same client_id
        would be stored again."""
        self._check_open()
        return self.database.write(_delete_one, message_id, self._now_ms(), serialize=True)

    def _now_ms(self) -> int:
        return int(self._runtime.now() * 1000)

    def close(self, timeout: float = 10) -> bool:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        drained = self._stopped.wait(timeout)
        if not drained:
            logger.error("history writer still busy after %s s: not closing the database", timeout)
        return drained

    def _check_open(self) -> None:
        """Closed, it refuses reads too (the database is closed next)."""
        if self._closed:
            raise StorageClosed()

    def _write_loop(self) -> None:
        while True:
            batch = self._next_batch()
            stopping = batch[-1] is _STOP
            if stopping:
                batch.pop()  # nothing is queued after _STOP
            if batch:
                self._commit(batch)
            if stopping:
                self._stopped.set()
                return

    def _next_batch(self) -> list[Any]:
        batch = [self._queue.get()]
        while len(batch) < self._batch_max and batch[-1] is not _STOP:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _commit(self, batch: list[_Pending]) -> None:
        ts = int(self._runtime.now() * 1000)
        rows = [dict(pending.row, ts=ts) for pending in batch]
        started = time.perf_counter()
        try:
            results = self.database.write(_store_batch, rows, serialize=True)
        except Exception as exc:  # the writer must survive whatever one batch ran into
            if len(batch) > 1 and not _database_unreachable(exc):
                # One row the database refuses fails the whole transaction: store the members
                # one by one, so that only that one is refused and the others are kept.
                logger.warning(
                    "storing %d messages failed (%s): storing them one by one",
                    len(batch),
                    describe_failure(exc),
                )
                for pending in batch:
                    self._commit([pending])
                return
            # Never the exception's text or traceback: SQL errors quote parameters (message
            # bodies, names), which README promises are never logged.
            logger.error("storing %d messages failed (%s)", len(batch), describe_failure(exc))
            for pending in batch:
                pending.error = exc
                pending.done.set()
            return
        self.batches_committed += 1
        if self._on_batch is not None:
            stored = sum(1 for _message, duplicate in results if not duplicate)
            self._on_batch(stored, time.perf_counter() - started)
        for pending, result in zip(batch, results, strict=True):
            pending.result = result
        for pending, (message, duplicate) in sorted(
            zip(batch, results, strict=True), key=lambda stored: stored[1][0].id
        ):
            if not duplicate:
                notify_commit(pending.on_commit, message)
        for pending in batch:
            pending.done.set()


def _database_unreachable(exc: BaseException) -> bool:
    """The database is down or closing (not refusing one row): retrying row by row is futile."""
    cause = exc.__cause__ if isinstance(exc, StorageUnavailable) else exc
    return isinstance(exc, StorageClosed) or isinstance(cause, (OperationalError, InterfaceError))


def describe_failure(exc: BaseException) -> str:
    """What failed, without anything a client sent: exception types and PostgreSQL's SQLSTATE."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 4:
        parts.append(type(seen).__name__)
        sqlstate = getattr(getattr(seen, "orig", None), "sqlstate", None)
        if sqlstate:
            parts[-1] += f" SQLSTATE {sqlstate}"
        seen = seen.__cause__
    return " <- ".join(parts)


def _store_batch(conn: Connection, rows: list[dict[str, Any]]) -> list[tuple[StoredMessage, bool]]:
    """Inserts the rows not already stored under their (user_id, client_id); runs on an OS thread.

    Returns (message, duplicate) per row. A repeat within the batch is a duplicate of the first.
    """
    keys = {(row["user_id"], row["client_id"]) for row in rows if row["client_id"] is not None}
    known: dict[tuple[str, str], StoredMessage | int] = _stored_by_client(conn, keys)
    fresh: list[dict[str, Any]] = []
    plan: list[tuple[StoredMessage | int, bool]] = []  # a stored message, or an index in fresh
    for row in rows:
        key = (row["user_id"], row["client_id"]) if row["client_id"] is not None else None
        if key in known:
            plan.append((known[key], True))
            continue
        if key is not None:
            known[key] = len(fresh)
        plan.append((len(fresh), False))
        fresh.append(row)
    stored = _insert(conn, fresh)
    return [(stored[ref] if isinstance(ref, int) else ref, dup) for ref, dup in plan]


def _stored_by_client(
    conn: Connection, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], StoredMessage | int]:
    # OR of (user_id = ? AND client_id = ?) uses the unique index on SQLite and PostgreSQL alike
    # (SQLite scans the table for a row-value IN); chunks keep SQLite's expression depth small.
    found: dict[tuple[str, str], StoredMessage | int] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _LOOKUP_CHUNK):
        match = or_(
            *(
                and_(messages.c.user_id == user_id, messages.c.client_id == client_id)
                for user_id, client_id in ordered[start : start + _LOOKUP_CHUNK]
            )
        )
        for row in conn.execute(select(messages).where(match)):
            found[(row.user_id, row.client_id)] = _message(row)
    return found


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> list[StoredMessage]:
    if not rows:
        return []
    statement = insert(messages).returning(messages.c.id, sort_by_parameter_order=True)
    params = [dict(row, search_text=search_text(row["text"])) for row in rows]
    ids = conn.execute(statement, params).scalars().all()
    return [StoredMessage(id=id_, **row) for id_, row in zip(ids, rows, strict=True)]


def _select_page(
    conn: Connection, room: str, before: int | None, after: int | None, limit: int
) -> tuple[list[StoredMessage], bool]:
    query = select(messages).where(messages.c.room == room)
    if after is not None:
        query = query.where(messages.c.id > after).order_by(messages.c.id)
        rows = conn.execute(query.limit(limit + 1)).all()
        return [_message(row) for row in rows[:limit]], len(rows) > limit
    if before is not None:
        query = query.where(messages.c.id < before)
    rows = conn.execute(query.order_by(messages.c.id.desc()).limit(limit + 1)).all()
    return [_message(row) for row in reversed(rows[:limit])], len(rows) > limit


def _select_one(conn: Connection, message_id: int) -> StoredMessage | None:
    row = conn.execute(select(messages).where(messages.c.id == message_id)).first()
    return None if row is None else _message(row)


def _search(conn: Connection, query: SearchQuery, before: int, limit: int) -> list[StoredMessage]:
    c = messages.c
    where = and_(c.room == LOBBY, c.id < before, matching(conn, messages, query))
    if query.sender_id is not None:
        where = and_(where, c.user_id == query.sender_id)
    elif query.sender_name is not None:
        where = and_(where, c.name == query.sender_name)
    rows = conn.execute(select(messages).where(where).order_by(c.id.desc()).limit(limit))
    return [_message(row) for row in rows]


def _react(
    conn: Connection, message_id: int, user_id: str, name: str, emoji: str, ts: int
) -> Revised[list[Reaction]] | None:
    message = _select_one(conn, message_id)
    if message is None or message.room != LOBBY:
        return None
    reactions = toggle_reaction(conn, False, message_id, user_id, name, emoji, ts)
    return Revised(reactions, record(conn, "react", message_id, ts, room=LOBBY))


def _edit_one(
    conn: Connection, message_id: int, text: str, edited_at: int
) -> Revised[StoredMessage] | None:
    message = _select_one(conn, message_id)
    if message is None:
        return None
    conn.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(text=text, edited_at=edited_at, search_text=search_text(text))
    )
    seq = record(conn, "edit", message_id, edited_at, room=LOBBY) if message.room == LOBBY else 0
    return Revised(replace(message, text=text, edited_at=edited_at), seq)


def _delete_one(conn: Connection, message_id: int, ts: int) -> Revised[StoredMessage] | None:
    message = _select_one(conn, message_id)
    if message is None:
        return None
    conn.execute(delete(messages).where(messages.c.id == message_id))
    forget_reactions(conn, False, message_id)
    seq = record(conn, "delete", message_id, ts, room=LOBBY) if message.room == LOBBY else 0
    return Revised(message, seq)


def _message(row: Any) -> StoredMessage:
    data = dict(row._mapping)
    data.pop("search_text", None)
    return StoredMessage(**data)
