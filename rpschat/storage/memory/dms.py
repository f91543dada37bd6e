"""Direct messages (the domain's `DmStore`) in this process (`DATABASE_URL=memory://`)."""

from __future__ import annotations

import dataclasses
import threading
import time

from rpschat.domain.ports import DirectMessage, Runtime
from rpschat.storage.common import StorageClosed, pair_of


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
