"""Direct messages (the domain's `DmStore`) in this process (`DATABASE_URL=memory://`)."""

from __future__ import annotations

import dataclasses
import threading
import time
from bisect import bisect_left

from rpschat.domain.ports import DirectMessage, DmThread, Revised, Runtime, UnreadSender
from rpschat.domain.search import matches, sent_by, words
from rpschat.storage.common import StorageClosed, check_caps, pair_of
from rpschat.storage.memory.changes import MemoryChanges, MemoryReactions


class MemoryDms:
    def __init__(self, runtime: Runtime | None = None, changes: MemoryChanges | None = None):
        self.changes = changes or MemoryChanges()
        self._reactions = MemoryReactions()
        self._now = (lambda: runtime.now()) if runtime else time.time  # a held clock too
        self._lock = threading.Lock()
        self._messages: list[DirectMessage] = []  # in id order (a deleted one is gone)
        self._last_id = 0
        self._by_client: dict[tuple[str, str], DirectMessage] = {}
        self.closed = False

    def append(
        self, sender_id, sender, recipient_id, recipient, text, client_id, unread, caps=None,
        reply_to=None,
    ):  # fmt: skip
        with self._lock:
            if self.closed:
                raise StorageClosed()
            if client_id is not None and (sender_id, client_id) in self._by_client:
                return self._by_client[(sender_id, client_id)], True
            if unread and caps is not None:
                held = [m for m in self._messages if m.recipient_id == recipient_id and m.unread]
                from_sender = sum(1 for m in held if m.sender_id == sender_id)
                check_caps(caps, len(held), from_sender)
            self._last_id += 1
            message = DirectMessage(
                self._last_id, sender_id, sender, recipient_id, recipient, text,
                int(self._now() * 1000), client_id, unread, reply_to=reply_to,
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
                m for m in self._messages[self._index(after_id + 1):]
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

    def threads(self, user_id, limit):
        with self._lock:
            mine = [m for m in self._messages if user_id in (m.sender_id, m.recipient_id)]
        newest: dict[str, DirectMessage] = {}
        unread: dict[str, int] = {}
        for m in mine:
            other = m.recipient_id if m.sender_id == user_id else m.sender_id
            newest[other] = m
            if m.unread and m.recipient_id == user_id:
                unread[other] = unread.get(other, 0) + 1
        ordered = sorted(newest.items(), key=lambda item: item[1].id, reverse=True)[:limit]
        return [DmThread(other, last, unread.get(other, 0)) for other, last in ordered]

    def mark_read_from(self, user_id, sender_id, last_id):
        self._mark(
            lambda m: m.recipient_id == user_id and m.sender_id == sender_id and m.id <= last_id
        )

    def mark_read(self, user_id, ids):
        wanted = set(ids)
        self._mark(lambda m: m.recipient_id == user_id and m.id in wanted)

    def mark_read_through(self, user_id, last_id, after_id=0):
        self._mark(lambda m: m.recipient_id == user_id and after_id < m.id <= last_id)

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

    def get(self, message_id):
        with self._lock:
            return self._get(message_id)

    def _index(self, message_id):
        """Where the message of that id is (or would be) in the list."""
        return bisect_left(self._messages, message_id, key=_message_id)

    def _get(self, message_id):
        index = self._index(message_id)
        if index < len(self._messages) and self._messages[index].id == message_id:
            return self._messages[index]
        return None

    def get_many(self, message_ids):
        with self._lock:
            found = (self._get(message_id) for message_id in message_ids)
            return {m.id: m for m in found if m is not None}

    def react(self, message_id, user_id, name, emoji, ts):
        with self._lock:
            message = self._get(message_id)
            if message is None:
                return None
            reactions = self._reactions.toggle(message_id, user_id, name, emoji)
            users = frozenset((message.sender_id, message.recipient_id))
            return Revised(reactions, self.changes.record("react", message_id, users))

    def search(self, user_id, query, before, limit):
        with self._lock:
            older = self._messages[: self._index(before)]
        found = []
        for m in reversed(older):
            mine = user_id in (m.sender_id, m.recipient_id)
            if (
                mine
                and sent_by(query, m.sender_id, m.sender)
                and matches(query.words, words(m.text))
            ):
                found.append(m)
                if len(found) == limit:
                    break
        return found

    def reactions_of(self, message_ids):
        with self._lock:
            return self._reactions.of_many(message_ids)

    def edit(self, message_id, text, edited_at):
        with self._lock:
            if self.closed:
                raise StorageClosed()
            message = self._get(message_id)
            if message is None:
                return None
            message = dataclasses.replace(message, text=text, edited_at=edited_at)
            self._messages[self._index(message_id)] = message
            if message.client_id is not None:
                self._by_client[(message.sender_id, message.client_id)] = message
            users = frozenset((message.sender_id, message.recipient_id))
            return Revised(message, self.changes.record("edit", message_id, users))

    def delete(self, message_id, ts):
        with self._lock:
            if self.closed:
                raise StorageClosed()
            message = self._get(message_id)
            if message is None:
                return None
            del self._messages[self._index(message_id)]
            self._reactions.forget(message_id)
            if message.client_id is not None:
                self._by_client.pop((message.sender_id, message.client_id), None)
            users = frozenset((message.sender_id, message.recipient_id))
            return Revised(message, self.changes.record("delete", message_id, users))

    def close(self) -> None:
        self.closed = True


def _message_id(message: DirectMessage) -> int:
    return message.id
