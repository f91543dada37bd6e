"""Chat history in this process (`DATABASE_URL=memory://`): nothing survives a restart."""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, bisect_right
from dataclasses import replace

from rpschat.domain.ports import LOBBY, OnCommit, Revised, Runtime, SearchQuery, StoredMessage
from rpschat.domain.replies import Reaction
from rpschat.domain.search import matches, sent_by, words
from rpschat.storage.common import OnBatch, StorageClosed, check_page_args, notify_commit
from rpschat.storage.memory.changes import MemoryChanges, MemoryReactions


class MemoryHistory:
    """In-process history for `DATABASE_URL=memory://`: nothing survives a restart."""

    def __init__(
        self,
        runtime: Runtime | None = None,
        on_batch: OnBatch | None = None,
        changes: MemoryChanges | None = None,
    ):
        self.changes = changes or MemoryChanges()
        self._reactions = MemoryReactions()
        self._now = (lambda: runtime.now()) if runtime else time.time  # a held clock too
        # Reentrant: an on_commit callback may append (it runs under the lock, for id order).
        self._lock = threading.RLock()
        self._rooms: dict[str, list[StoredMessage]] = {}
        self._by_client: dict[tuple[str, str], StoredMessage] = {}
        self._last_id = 0
        self._closed = False
        self._on_batch = on_batch  # told of every message stored (metrics)

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
        with self._lock:
            self._check_open()
            known = self._by_client.get((user_id, client_id)) if client_id is not None else None
            if known is not None:
                return known, True
            self._last_id += 1
            ts = int(self._now() * 1000)
            message = StoredMessage(
                self._last_id, room, user_id, name, text, ts, client_id, reply_to=reply_to
            )
            self._rooms.setdefault(room, []).append(message)
            if client_id is not None:
                self._by_client[(user_id, client_id)] = message
            notify_commit(on_commit, message)
        if self._on_batch is not None:
            self._on_batch(1, 0.0)
        return message, False

    def page(
        self, room: str, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> tuple[list[StoredMessage], bool]:
        check_page_args(before, after)
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

    def get_many(self, message_ids: list[int]) -> dict[int, StoredMessage]:
        with self._lock:
            self._check_open()
            found = (self._find(message_id) for message_id in message_ids)
            return {stored[i].id: stored[i] for stored, i in filter(None, found)}

    def react(
        self, message_id: int, user_id: str, name: str, emoji: str, ts: int
    ) -> Revised[list[Reaction]] | None:
        with self._lock:
            self._check_open()
            found = self._find(message_id)
            if found is None or found[0][found[1]].room != LOBBY:
                return None
            reactions = self._reactions.toggle(message_id, user_id, name, emoji)
            return Revised(reactions, self.changes.record("react", message_id))

    def search(self, query: SearchQuery, before: int, limit: int) -> list[StoredMessage]:
        with self._lock:
            self._check_open()
            stored = self._rooms.get(LOBBY, [])
            older = stored[: bisect_left(stored, before, key=_message_id)]
        found = []
        for message in reversed(older):  # a scan: memory:// holds one process's messages
            if sent_by(query, message.user_id, message.name) and matches(
                query.words, words(message.text)
            ):
                found.append(message)
                if len(found) == limit:
                    break
        return found

    def count_since(self, room: str, since_ms: int) -> int:
        with self._lock:
            return sum(1 for m in self._rooms.get(room, []) if m.ts >= since_ms)

    def posted_since(
        self, user_id: str | None, name: str, since_ms: int, limit: int
    ) -> list[StoredMessage]:
        with self._lock:
            self._check_open()
            found = [
                m
                for stored in self._rooms.values()
                for m in stored
                if m.ts >= since_ms and (m.user_id == user_id if user_id else m.name == name)
            ]
        return sorted(found, key=_message_id)[:limit]

    def reactions_of(self, message_ids: list[int]) -> dict[int, list[Reaction]]:
        with self._lock:
            return self._reactions.of_many(message_ids)

    def edit(self, message_id: int, text: str, edited_at: int) -> Revised[StoredMessage] | None:
        with self._lock:
            self._check_open()
            found = self._find(message_id)
            if found is None:
                return None
            stored, index = found
            message = replace(stored[index], text=text, edited_at=edited_at)
            stored[index] = message
            if message.client_id is not None:
                self._by_client[(message.user_id, message.client_id)] = message
            seq = self.changes.record("edit", message_id) if message.room == LOBBY else 0
            return Revised(message, seq)

    def _find(self, message_id: int) -> tuple[list[StoredMessage], int] | None:
        for stored in self._rooms.values():
            index = bisect_left(stored, message_id, key=_message_id)
            if index < len(stored) and stored[index].id == message_id:
                return stored, index
        return None

    def delete(self, message_id: int) -> Revised[StoredMessage] | None:
        with self._lock:
            self._check_open()
            found = self._find(message_id)
            if found is None:
                return None
            stored, index = found
            message = stored.pop(index)
            self._reactions.forget(message_id)
            if message.client_id is not None:
                self._by_client.pop((message.user_id, message.client_id), None)
            seq = self.changes.record("delete", message_id) if message.room == LOBBY else 0
            return Revised(message, seq)

    def close(self, timeout: float = 10) -> bool:
        with self._lock:
            self._closed = True
        return True

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosed()


def _message_id(message: StoredMessage) -> int:
    return message.id
