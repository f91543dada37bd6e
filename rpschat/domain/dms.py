"""Direct messages: one user to another, stored before the ack, delivered to every connection
of both (the sender's own excepted), to an offline claimed name at its next log-in, and
replayed exactly once after a resume (docs/protocol.md, "Direct messages").

Delivery. Each user's connections are in the room `dm:<user_id>`, which a connection joins only
once it has been sent what it missed (a resume's replay, or the unread messages of a log-in):
the same watermark as the lobby's replay (ChatService._replay). `watermark` is the highest DM id
this node has delivered to its sockets (with Redis, reported by the message queue for DMs sent
from any node); what was stored up to it is sent from storage, and the room is joined without a
yield in between, so each message comes either from storage or live, once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from rpschat.domain.chat import (
    MAX_REPLAY,
    ChatService,
    Connection,
    MessagePage,
    Stored,
    wire_bytes,
)
from rpschat.domain.errors import Code, Refused
from rpschat.domain.ports import DirectMessage, DmStore
from rpschat.domain.text import clean_client_id, clean_message, clean_name

log = logging.getLogger("rpschat.dms")

MAX_PAGE = 200
LIMIT_REFUSAL = f"limit must be a whole number from 1 to {MAX_PAGE}."
MAX_NAME_ECHO = 32


def dm_room(user_id: str) -> str:
    return f"dm:{user_id}"


@dataclass
class DmService:
    chat: ChatService
    store: DmStore
    # With a message queue (Redis) the watermark moves when a DM comes back from the queue,
    # not when this node sends it: it counts deliveries to this node's sockets.
    shared_queue: bool = False
    watermark: int = 0
    _send_lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- client events -----------------------------------------------------------------------

    def check_dm(self, sid: str, to: str, text: str, client_id: str | None) -> Callable[[], Stored]:
        """Validate now, in arrival order; the returned part stores and delivers.

        `to` is a name, not blank (the web layer refuses a blank one as a bad shape)."""
        chat = self.chat
        conn = chat.named(sid)
        text = clean_message(text, chat.limits.max_message_chars)
        client_id = clean_client_id(client_id)
        chat.limit(conn, "chat")  # the chat's limit (and a muted user's refusal)
        recipient_id, recipient, connected = self._recipient(to.strip())
        if recipient_id == conn.user_id:
            raise Refused(Code.SELF_TARGET, "You can't send a direct message to yourself.")
        guard = chat.guard
        if guard is not None and guard.ignores(recipient_id, conn.user_id):
            raise Refused(Code.IGNORED, f"{recipient} does not take your messages.")
        return lambda: self._send(conn, recipient_id, recipient, connected, text, client_id)

    def dm_history(
        self, sid: str, other: str, before: int | None, limit: int | None
    ) -> Callable[[], MessagePage]:
        """Check now; the returned part reads a page of the caller's conversation with `other`
        (a name, not blank), older than `before`."""
        chat = self.chat
        conn = chat.named(sid)
        limit = 50 if limit is None else limit
        if not 1 <= limit <= MAX_PAGE:
            raise Refused(Code.BAD_REQUEST, LIMIT_REFUSAL, field="limit")
        chat.limit(conn, "other")
        other_id, _, _ = self._recipient(other.strip())
        user_id = conn.user_id

        def page() -> MessagePage:  # only the caller's own conversation: (caller, other)
            messages, has_more = self.store.conversation(user_id, other_id, before, limit)
            wire, cut = chat.fit_answer([m.to_wire() for m in messages], keep_newest=True)
            return MessagePage(wire, has_more or cut)

        return page

    # ---- sending -----------------------------------------------------------------------------

    def _recipient(self, wanted: str) -> tuple[str, str, bool]:
        """(user id, name, connected) of the user called `wanted`: online (possibly in its
        grace period, not connected), or a claimed name."""
        try:
            name = clean_name(wanted)
        except Refused:
            raise Refused(Code.NOT_ONLINE, f"{wanted[:MAX_NAME_ECHO]} is not online.") from None
        directory = self.chat.directory
        user_id = directory.user_of(name)
        held = directory.name_of(user_id) if user_id else None
        if held is not None:
            return user_id, held, directory.sid_of(user_id) is not None
        accounts = self.chat.accounts
        account = accounts.get(self.chat.names.key(name)) if accounts is not None else None
        if account is not None:  # offline, or online under a look-alike spelling
            return account.user_id, account.name, directory.sid_of(account.user_id) is not None
        raise Refused(Code.NOT_ONLINE, f"{name[:MAX_NAME_ECHO]} is not online.")

    def _send(
        self,
        conn: Connection,
        recipient_id: str,
        recipient: str,
        connected: bool,
        text: str,
        client_id: str | None,
    ) -> Stored:
        # One DM at a time per node: ids are given in commit order, and sent in that order, so
        # the watermark never passes a DM still on its way (see the module's docstring).
        with self._send_lock:
            message, duplicate = self.store.append(
                conn.user_id, conn.name, recipient_id, recipient, text, client_id, not connected
            )
            if not duplicate:
                self._deliver(message, skip_sid=conn.sid)
        return Stored(message.id, message.ts, duplicate)

    def _deliver(self, message: DirectMessage, skip_sid: str) -> None:
        rooms = [dm_room(message.recipient_id), dm_room(message.sender_id)]
        if not self.shared_queue:
            self.note_delivered(message.id)
        self.chat.outbox.emit("dm", message.to_wire(), to=rooms, skip_sid=skip_sid)

    def note_delivered(self, message_id: int) -> None:
        """A DM reached this node's sockets (with Redis: sent from any node)."""
        self.watermark = max(self.watermark, message_id)

    # ---- connections -------------------------------------------------------------------------

    def attach(self, sid: str, user_id: str, dm_last_id: int | None, new_user: bool) -> None:
        """A connection became `user_id`'s: send it what it missed, then join its DM room.

        After a resume with `dm_last_id`: every DM sent or received after it (`replayed`).
        Otherwise (a log-in, a resume without a cursor): the DMs received while offline
        (`unread`), which then count as delivered. A new guest has none."""
        if new_user:
            self.chat.outbox.join(sid, dm_room(user_id))
            return
        if dm_last_id is not None:
            self._catch_up(sid, user_id, dm_last_id, self.store.since, {"replayed": True})
        else:
            self._catch_up(sid, user_id, 0, self.store.unread, {"unread": True})
        self.store.mark_read(user_id)  # from now on the room delivers everything

    def detach(self, sid: str, user_id: str) -> None:
        self.chat.outbox.leave(sid, dm_room(user_id))

    def _catch_up(
        self,
        sid: str,
        user_id: str,
        after: int,
        fetch: Callable[[str, int, int], list[DirectMessage]],
        mark: dict[str, bool],
    ) -> None:
        outbox = self.chat.outbox
        budget = self.chat.limits.max_answer_bytes
        sent = sent_bytes = 0
        cut_after = None
        while True:
            watermark = self.watermark
            if (watermark == 0 or watermark > after) and cut_after is None:
                for message in fetch(user_id, after, MAX_REPLAY - sent):
                    if watermark and message.id > watermark:
                        break
                    wire = {**message.to_wire(), **mark}
                    sent_bytes += wire_bytes(wire)
                    if sent and budget is not None and sent_bytes > budget:
                        cut_after = after
                        break
                    outbox.emit("dm", wire, to=sid)
                    sent += 1
                    after = message.id
                    if sent >= MAX_REPLAY:
                        cut_after = after
                        break
                after = max(after, watermark)
            if self.watermark == watermark:  # nothing arrived meanwhile: no gap, no repeat
                if cut_after is not None:
                    outbox.emit("dm_replay_truncated", {"dm_last_id": cut_after}, to=sid)
                outbox.join(sid, dm_room(user_id))
                return
