"""The changes to stored messages (the domain's `ChangeLog`) in this process, shared by the
memory history and DM stores (`DATABASE_URL=memory://`)."""

from __future__ import annotations

import threading
from bisect import bisect_right

from rpschat.domain.ports import Change


class MemoryChanges:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changes: list[tuple[Change, frozenset[str]]] = []  # seq order; a DM's two users

    def record(self, kind: str, message_id: int, dm_users: frozenset[str] | None = None) -> int:
        """Called by a store as it changes a message, under its own lock; returns the seq."""
        with self._lock:
            seq = len(self._changes) + 1
            change = Change(seq, kind, message_id, dm_users is not None)
            self._changes.append((change, dm_users or frozenset()))
            return seq

    def changes_after(self, user_id: str, seq: int, limit: int) -> list[Change]:
        with self._lock:
            later = self._changes[bisect_right(self._changes, seq, key=_seq) :]
        return [c for c, users in later if not c.dm or user_id in users][:limit]

    def last_seq(self) -> int:
        with self._lock:
            return len(self._changes)


def _seq(entry: tuple[Change, frozenset[str]]) -> int:
    return entry[0].seq
