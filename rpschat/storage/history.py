"""Chat history: messages are stored before they are acked, and delivered in id order."""

from __future__ import annotations

import logging
import queue
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select
from sqlalchemy.exc import InterfaceError, OperationalError

from rpschat.domain.ports import Event, HistoryStore, OnCommit, Runtime, StoredMessage
from rpschat.storage.database import (
    Database,
    StorageClosed,
    StorageUnavailable,
    is_memory_url,
    messages,
)

logger = logging.getLogger(__name__)


# Told of every committed batch: (messages newly stored, seconds the commit took). For metrics.
OnBatch = Callable[[int, float], None]


def _check_page_args(before: int | None, after: int | None) -> None:
    if before is not None and after is not None:
        raise ValueError("page() takes before or after, not both")


def _notify(on_commit: OnCommit | None, message: StoredMessage) -> None:
    if on_commit is None:
        return
    try:
        on_commit(message)
    except Exception:  # a failing listener must not lose or delay anyone else's message
        logger.exception("on_commit failed for message %d", message.id)


class MemoryHistory:
    """In-process history for `DATABASE_URL=memory://`: nothing survives a restart."""

    def __init__(self, runtime: Runtime | None = None):
        self._now = runtime.now if runtime else time.time
        # Reentrant: an on_commit callback may append (it runs under the lock, for id order).
        self._lock = threading.RLock()
        self._rooms: dict[str, list[StoredMessage]] = {}
        self._by_client: dict[tuple[str, str], StoredMessage] = {}
        self._last_id = 0
        self._closed = False
        self.on_batch: OnBatch | None = None

    def append(
        self,
        room: str,
        user_id: str,
        name: str,
        text: str,
        client_id: str | None = None,
        on_commit: OnCommit | None = None,
    ) -> tuple[StoredMessage, bool]:
        with self._lock:
            self._check_open()
            known = self._by_client.get((user_id, client_id)) if client_id is not None else None
            if known is not None:
                return known, True
            self._last_id += 1
            ts = int(self._now() * 1000)
            message = StoredMessage(self._last_id, room, user_id, name, text, ts, client_id)
            self._rooms.setdefault(room, []).append(message)
            if client_id is not None:
                self._by_client[(user_id, client_id)] = message
            _notify(on_commit, message)
        if self.on_batch is not None:
            self.on_batch(1, 0.0)
        return message, False

    def page(
        self, room: str, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> tuple[list[StoredMessage], bool]:
        _check_page_args(before, after)
        with self._lock:
            self._check_open()
            stored = self._rooms.get(room, [])
            if after is not None:
                start = bisect_right(stored, after, key=_message_id)
                return stored[start : start + limit], start + limit < len(stored)
            end = len(stored) if before is None else bisect_left(stored, before, key=_message_id)
            start = max(0, end - limit)
            return stored[start:end], start > 0

    def after(self, room: str, last_id: int, limit: int = 1000) -> list[StoredMessage]:
        return self.page(room, after=last_id, limit=limit)[0]

    def get(self, message_id: int) -> StoredMessage | None:
        with self._lock:
            self._check_open()
            for stored in self._rooms.values():
                index = bisect_left(stored, message_id, key=_message_id)
                if index < len(stored) and stored[index].id == message_id:
                    return stored[index]
            return None

    def delete(self, message_id: int) -> StoredMessage | None:
        with self._lock:
            self._check_open()
            for stored in self._rooms.values():
                index = bisect_left(stored, message_id, key=_message_id)
                if index < len(stored) and stored[index].id == message_id:
                    message = stored.pop(index)
                    if message.client_id is not None:
                        self._by_client.pop((message.user_id, message.client_id), None)
                    return message
            return None

    def close(self, timeout: float = 10) -> bool:
        with self._lock:
            self._closed = True
        return True

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosed()


def _message_id(message: StoredMessage) -> int:
    return message.id


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

    def __init__(self, url: str | Database | None, runtime: Runtime, batch_max: int = 256):
        self._owns_database = not isinstance(url, Database)
        self.database = Database(url, runtime) if self._owns_database else url
        self.batches_committed = 0
        self.on_batch: OnBatch | None = None
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
    ) -> tuple[StoredMessage, bool]:
        row = dict(room=room, user_id=user_id, name=name, text=text, client_id=client_id)
        pending = _Pending(row, on_commit, self._runtime.event())
        with self._lock:
            if self._closed:
                raise StorageClosed()
            self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise StorageUnavailable() from pending.error
        return pending.result

    def page(
        self, room: str, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> tuple[list[StoredMessage], bool]:
        _check_page_args(before, after)
        return self.database.read(_select_page, room, before, after, limit)

    def after(self, room: str, last_id: int, limit: int = 1000) -> list[StoredMessage]:
        return self.page(room, after=last_id, limit=limit)[0]

    def get(self, message_id: int) -> StoredMessage | None:
        return self.database.read(_select_one, message_id)

    def delete(self, message_id: int) -> StoredMessage | None:
        """The row goes (its id is never reused); a resend of it with the same client_id
        would be stored again."""
        return self.database.write(_delete_one, message_id)

    def close(self, timeout: float = 10) -> bool:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        drained = self._stopped.wait(timeout)
        if not drained:
            logger.error("history writer still busy after %s s: not closing the database", timeout)
        elif self._owns_database and not self.database.closed:
            self.database.close()
        return drained

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
        if self.on_batch is not None:
            stored = sum(1 for _message, duplicate in results if not duplicate)
            self.on_batch(stored, time.perf_counter() - started)
        for pending, result in zip(batch, results, strict=True):
            pending.result = result
        for pending in sorted(batch, key=lambda pending: pending.result[0].id):
            message, duplicate = pending.result
            if not duplicate:
                _notify(pending.on_commit, message)
        for pending in batch:
            pending.done.set()


def _database_unreachable(exc: BaseException) -> bool:
    """The database is down or closing (not refusing one row): retrying row by row is futile."""
    cause = exc.__cause__ if isinstance(exc, StorageUnavailable) else exc
    return isinstance(exc, StorageClosed) or isinstance(cause, (OperationalError, InterfaceError))


def describe_failure(exc: BaseException) -> str:
    """What failed, without anything a client sent: exception types and PostgreSQL's SQLSTATE."""
    parts = []
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
    ids = conn.execute(statement, rows).scalars().all()
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


def _delete_one(conn: Connection, message_id: int) -> StoredMessage | None:
    message = _select_one(conn, message_id)
    if message is not None:
        conn.execute(delete(messages).where(messages.c.id == message_id))
    return message


def _message(row: Any) -> StoredMessage:
    return StoredMessage(**row._mapping)


def open_history(database_url: str | None, runtime: Runtime) -> HistoryStore:
    """memory://, sqlite:///path (relative to the working directory) or postgres(ql)://...

    None means the default SQLite file under instance/.
    """
    if is_memory_url(database_url):
        return MemoryHistory(runtime)
    return SqlHistory(database_url, runtime)
