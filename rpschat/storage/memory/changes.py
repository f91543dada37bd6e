"""The changes to stored messages (the domain's `ChangeLog`) in this process, shared by the
memory history and DM stores (`DATABASE_URL=memory://`)."""

from __future__ import annotations

import threading
from bisect import bisect_right

from rpschat.domain.ports import Change
from rpschat.domain.replies import Reaction


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


class MemoryReactions:
    """The reactions of one store's messages (`HistoryStore.react`), under the store's lock."""

    def __init__(self) -> None:
        # message id -> emoji -> user id -> name, each in the order added
        self._by_message: dict[int, dict[str, dict[str, str]]] = {}

    def toggle(self, message_id: int, user_id: str, name: str, emoji: str) -> list[Reaction]:
        users = self._by_message.setdefault(message_id, {}).setdefault(emoji, {})
        if users.pop(user_id, None) is None:
            users[user_id] = name
        return self.of(message_id)

    def of(self, message_id: int) -> list[Reaction]:
        emojis = self._by_message.get(message_id, {})
        return [
            Reaction(emoji, list(users.values()), len(users))
            for emoji, users in emojis.items()
            if users
        ]

    def of_many(self, message_ids: list[int]) -> dict[int, list[Reaction]]:
        found = {message_id: self.of(message_id) for message_id in message_ids}
        return {message_id: reactions for message_id, reactions in found.items() if reactions}

    def forget(self, message_id: int) -> None:
        self._by_message.pop(message_id, None)
