"""A user's DM conversations (docs/protocol.md, "dm_conversations", "dm_read"): the list a
client shows as "Messages" (every conversation, online or not, newest first, each with the
caller's unread count, server-side, so DMs that waited for a log-in are listed while their
sender is offline), and marking a conversation read as far as the client has shown it (the
user's other connections are told, so their unread marks go too)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rpschat.domain.answers import fit_answer
from rpschat.domain.dms import LIMIT_REFUSAL, MAX_PAGE, DmService, dm_room
from rpschat.domain.errors import Code, Refused


@dataclass(frozen=True)
class ConversationList:
    """What `dm_conversations` answers: the conversations as sent, newest first, and how many
    unread DMs the caller has in all."""

    conversations: list[dict[str, Any]]
    unread: int


@dataclass
class DmConversations:
    dms: DmService  # its callers, limits, store, ignores and outbox, and how it finds names

    def conversations(self, sid: str, limit: int | None) -> Callable[[], ConversationList]:
        """Check now; the returned part reads the caller's `limit` newest conversations."""
        dms = self.dms
        conn = dms.callers.named(sid)
        limit = 50 if limit is None else limit
        if not 1 <= limit <= MAX_PAGE:
            raise Refused(Code.BAD_REQUEST, LIMIT_REFUSAL, field="limit")
        dms.limits.limit(conn, "other")
        user_id = conn.user_id
        budget = dms.settings.max_answer_bytes

        def read() -> ConversationList:
            listed = []
            for thread in dms.store.threads(user_id, limit):
                if dms.ignores.ignores(user_id, thread.other_id):
                    continue  # someone the caller ignores: not listed (docs: dm)
                last = thread.last
                other = last.recipient if last.sender_id == user_id else last.sender
                listed.append({"with": other, "last": last.to_wire(), "unread": thread.unread})
            wire, _ = fit_answer(listed, False, budget)  # newest first: the first ones kept
            total, _ = dms.store.unread_senders(user_id, 0)
            return ConversationList(wire, total)

        return read

    def read(self, sid: str, other: str, through: int) -> Callable[[], int]:
        """Check now; the returned part marks the DMs from `other` to the caller with ids up to
        `through` read, tells the caller's other connections (`dm_read`), and returns how
        many unread DMs the caller has left."""
        dms = self.dms
        conn = dms.callers.named(sid)
        dms.limits.limit(conn, "other")
        user_id = conn.user_id
        other_id = dms.correspondent(other.strip(), user_id)

        def mark() -> int:
            dms.store.mark_read_from(user_id, other_id, through)
            dms.outbox.emit(
                "dm_read", {"with": other.strip(), "id": through},
                to=dm_room(user_id), skip_sid=sid,
            )  # fmt: skip
            total, _ = dms.store.unread_senders(user_id, 0)
            return total

        return mark
