"""Direct messages: one user to another, stored before the ack, delivered to every connection
of both (the sender's own excepted), to an offline claimed name at its next log-in, and
replayed exactly once after a resume (docs/protocol.md, "Direct messages").

Delivery. Each user's connections are in the room `dm:<user_id>`. A resume with a cursor joins
it only once it has been sent what it missed: the same watermark as the lobby's replay
(Lobby.replay). `watermark` is the highest DM id this node has delivered to its sockets (with
Redis, reported by the message queue for DMs sent from any node); what was stored up to it is
sent from storage, and the room is joined without a yield in between, so each message comes
either from storage or live, once.

Unread. A DM to a user with no connection is stored unread. A log-in (or a resume without a
cursor) joins the room, then gets the newest unread DMs, at most `unread_per_sender_on_log_in`
of each sender and `unread_on_log_in` in all, and a summary with the true count and each
sender's (`dm_unread_summary`); exactly those become read. The rest stay unread until fetched
(`dm_unread`, or `dm_history` with the sender). Before (issue 21): the oldest 1,000 or one
answer's worth were sent and every unread DM marked read, so 160 junk DMs buried a friend's, for
good. Storage keeps at most `unread_per_recipient` unread DMs for a user and `unread_per_sender`
from one sender to it (refused beyond, issue 21 item 13).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rpschat.domain.answers import MAX_REPLAY, MessagePage, Stored, fit_answer, wire_bytes
from rpschat.domain.errors import Code, Refused
from rpschat.domain.limits import ChatLimits
from rpschat.domain.names import NameRules
from rpschat.domain.ports import (
    AccountStore,
    Callers,
    DirectMessage,
    Directory,
    DmStore,
    Ignores,
    Limits,
    NamedConnection,
    Outbox,
    Posting,
    UnreadCapReached,
    UnreadCaps,
)
from rpschat.domain.replies import with_quotes
from rpschat.domain.text import clean_client_id, clean_message, clean_name

log = logging.getLogger("rpschat.dms")

MAX_PAGE = 200
LIMIT_REFUSAL = f"limit must be a whole number from 1 to {MAX_PAGE}."
MAX_NAME_ECHO = 32
MAX_SENDERS_LISTED = 50  # senders a dm_unread_summary names, those with the newest first


def dm_room(user_id: str) -> str:
    return f"dm:{user_id}"


@dataclass(frozen=True)
class DmLimits:
    unread_on_log_in: int = 50  # DM_UNREAD_ON_LOGIN: unread DMs sent at a log-in
    unread_per_sender_on_log_in: int = 10  # of them, from one sender at most
    # stored unread DMs, per recipient (DM_UNREAD_MAX) and per sender and recipient
    # (DM_UNREAD_PER_SENDER); None: no cap
    unread_per_recipient: int | None = 500
    unread_per_sender: int | None = 50


@dataclass(frozen=True)
class UnreadPage:
    """A page of unread DMs as sent on the wire, oldest first, and how many are left."""

    messages: list[dict[str, Any]]
    unread: int


@dataclass
class DmService:
    callers: Callers
    limits: Limits
    posting: Posting  # a muted user's DMs are refused
    ignores: Ignores  # a recipient who ignores the sender takes none
    directory: Directory
    accounts: AccountStore | None  # a claimed name takes DMs while offline
    names: NameRules
    store: DmStore
    outbox: Outbox
    settings: ChatLimits
    limits_unread: DmLimits = field(default_factory=DmLimits)
    # With a message queue (Redis) the watermark moves when a DM comes back from the queue,
    # not when this node sends it: it counts deliveries to this node's sockets.
    shared_queue: bool = False
    watermark: int = 0
    _send_lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- client events -----------------------------------------------------------------------

    def check_dm(
        self, sid: str, to: str, text: str, client_id: str | None, reply_to: int | None = None
    ) -> Callable[[], Stored]:
        """Validate now, in arrival order; the returned part stores and delivers.

        `to` is a name, not blank (the web layer refuses a blank one as a bad shape)."""
        conn = self.callers.named(sid)
        text = clean_message(text, self.settings.max_message_chars)
        client_id = clean_client_id(client_id)
        self.posting.check_can_post(conn)
        self.limits.limit(conn, "chat")  # the chat's limit
        recipient_id, recipient, connected = self._recipient(to.strip(), conn.user_id)
        if recipient_id == conn.user_id:
            raise Refused(Code.SELF_TARGET, "You can't send a direct message to yourself.")
        # Ignored: stored and acked as any other (the sender is not told it is ignored, issue
        # 23), but stored read, never delivered to the recipient nor shown in its conversations.
        hidden = self.ignores.ignores(recipient_id, conn.user_id)
        return lambda: self._send(
            conn, recipient_id, recipient, connected or hidden, text, client_id, hidden, reply_to
        )

    def dm_history(
        self, sid: str, other: str, before: int | None, limit: int | None
    ) -> Callable[[], MessagePage]:
        """Check now; the returned part reads a page of the caller's conversation with `other`
        (a name, not blank), older than `before`."""
        conn = self.callers.named(sid)
        limit = 50 if limit is None else limit
        if not 1 <= limit <= MAX_PAGE:
            raise Refused(Code.BAD_REQUEST, LIMIT_REFUSAL, field="limit")
        self.limits.limit(conn, "other")
        user_id = conn.user_id
        other_id = self.correspondent(other.strip(), user_id)
        budget = self.settings.max_answer_bytes

        def page() -> MessagePage:  # only the caller's own conversation: (caller, other)
            messages, has_more = self.store.conversation(user_id, other_id, before, limit)
            if self.ignores.ignores(user_id, other_id):  # what they sent: not shown
                messages = [m for m in messages if m.sender_id == user_id]
            wire, cut = fit_answer(with_quotes(messages, self.store), True, budget)
            shown = {item["id"] for item in wire}
            self._read(user_id, [m for m in messages if m.id in shown])
            return MessagePage(wire, has_more or cut)

        return page

    def dm_unread(
        self, sid: str, sender: str | None, limit: int | None
    ) -> Callable[[], UnreadPage]:
        """Check now; the returned part reads the caller's newest unread DMs (of `sender`, a
        name, if given), which become read."""
        conn = self.callers.named(sid)
        limit = 50 if limit is None else limit
        if not 1 <= limit <= MAX_PAGE:
            raise Refused(Code.BAD_REQUEST, LIMIT_REFUSAL, field="limit")
        self.limits.limit(conn, "other")
        user_id = conn.user_id
        sender_id = None if sender is None else self.correspondent(sender.strip(), user_id)
        budget = self.settings.max_answer_bytes

        def page() -> UnreadPage:
            newest = self.store.unread_newest(user_id, limit, sender_id=sender_id)
            wire, _ = fit_answer(with_quotes(newest, self.store), False, budget)
            self._read(user_id, newest[: len(wire)])
            left, _ = self.store.unread_senders(user_id, 0)
            return UnreadPage(wire[::-1], left)

        return page

    def _read(self, user_id: str, delivered: list[DirectMessage]) -> None:
        """The unread ones among DMs delivered to `user_id` are read now."""
        unread = [m.id for m in delivered if m.unread and m.recipient_id == user_id]
        if unread:
            self.store.mark_read(user_id, unread)

    def hidden_from(self, user_id: str, message: DirectMessage, known: dict[str, bool]) -> bool:
        """A DM to `user_id` from someone it ignores (`known`: the answers so far)."""
        if message.recipient_id != user_id:
            return False
        if message.sender_id not in known:
            known[message.sender_id] = self.ignores.ignores(user_id, message.sender_id)
        return known[message.sender_id]

    # ---- sending -----------------------------------------------------------------------------

    def _recipient(self, wanted: str, caller_id: str) -> tuple[str, str, bool]:
        """(user id, name, connected) of the user called `wanted`: online (possibly in its
        grace period, not connected), or a claimed name. A guest who sent the caller DMs and
        has left is refused saying so."""
        try:
            return self._find(wanted)
        except Refused:
            if self.store.sender_named(caller_id, wanted) is not None:
                raise Refused(
                    Code.GUEST_LEFT,
                    f"{wanted[:MAX_NAME_ECHO]} was a guest and has left: nobody can send them "
                    f"messages any more.",
                ) from None
            raise

    def correspondent(self, wanted: str, caller_id: str) -> str:
        """The user id of `wanted`: online, claimed, or a guest who sent the caller DMs under
        that name and has left (its conversation and unread DMs can still be read)."""
        try:
            return self._find(wanted)[0]
        except Refused:
            sender_id = self.store.sender_named(caller_id, wanted)
            if sender_id is None:
                raise
            return sender_id

    def _find(self, wanted: str) -> tuple[str, str, bool]:
        try:
            name = clean_name(wanted)
        except Refused:
            raise Refused(Code.NOT_ONLINE, f"{wanted[:MAX_NAME_ECHO]} is not online.") from None
        directory = self.directory
        user_id = directory.user_of(name)
        held = directory.name_of(user_id) if user_id else None
        if user_id is not None and held is not None:
            return user_id, held, directory.sid_of(user_id) is not None
        accounts = self.accounts
        account = accounts.get(self.names.key(name)) if accounts is not None else None
        if account is not None:  # offline, or online under a look-alike spelling
            return account.user_id, account.name, directory.sid_of(account.user_id) is not None
        raise Refused(Code.NOT_ONLINE, f"{name[:MAX_NAME_ECHO]} is not online.")

    def _send(
        self,
        conn: NamedConnection,
        recipient_id: str,
        recipient: str,
        connected: bool,
        text: str,
        client_id: str | None,
        hidden: bool = False,
        reply_to: int | None = None,
    ) -> Stored:
        # One DM at a time per node: ids are given in commit order, and sent in that order, so
        # the watermark never passes a DM still on its way (see the module's docstring).
        limits = self.limits_unread
        caps = UnreadCaps(limits.unread_per_recipient, limits.unread_per_sender)
        if reply_to is not None:  # a DM of the same two users
            parent = self.store.get(reply_to)
            if parent is None or {parent.sender_id, parent.recipient_id} != {
                conn.user_id, recipient_id,
            }:  # fmt: skip
                raise Refused(Code.NO_SUCH_MESSAGE, "The message you reply to is gone.")
        with self._send_lock:
            try:
                message, duplicate = self.store.append(
                    conn.user_id, conn.name, recipient_id, recipient, text, client_id,
                    not connected, None if hidden else caps, reply_to,
                )  # fmt: skip
            except UnreadCapReached as full:
                raise _inbox_full(recipient, full) from None
            if not duplicate:
                self._deliver(message, skip_sid=conn.sid, hidden=hidden)
        return Stored(message.id, message.ts, duplicate)

    def _deliver(self, message: DirectMessage, skip_sid: str, hidden: bool = False) -> None:
        rooms = [dm_room(message.sender_id)]
        if not hidden:
            rooms.append(dm_room(message.recipient_id))
        if not self.shared_queue:
            self.note_delivered(message.id)
        wire = with_quotes([message], self.store)[0]
        self.outbox.emit("dm", wire, to=rooms, skip_sid=skip_sid)

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
            self.outbox.join(sid, dm_room(user_id))
            return
        if dm_last_id is None:
            self.outbox.join(sid, dm_room(user_id))  # from now on they come live
            self._send_unread(sid, user_id)
            return
        replayed_through = self._catch_up(
            sid, user_id, dm_last_id, self.store.since, {"replayed": True}
        )
        # only what was replayed: unread DMs below the cursor (a log-in sends the newest
        # unread first, so older ones can wait there) stay unread
        self.store.mark_read_through(user_id, replayed_through, after_id=dm_last_id)

    def _send_unread(self, sid: str, user_id: str) -> None:
        """The newest unread DMs, a few of each sender's, then the true counts; only those
        sent become read."""
        total, senders = self.store.unread_senders(user_id, MAX_SENDERS_LISTED)
        if not total:
            return
        limits = self.limits_unread
        newest = self.store.unread_newest(
            user_id, limits.unread_on_log_in, per_sender=limits.unread_per_sender_on_log_in
        )
        wire, _ = fit_answer(
            with_quotes(newest, self.store, unread=True),
            False,  # newest first: the first ones are kept
            self.settings.max_answer_bytes,
        )
        for item in wire:
            self.outbox.emit("dm", item, to=sid)
        self._read(user_id, newest[: len(wire)])
        summary = {
            "unread": total,
            "delivered": len(wire),
            "senders": [{"name": s.sender, "unread": s.count} for s in senders],
        }
        self.outbox.emit("dm_unread_summary", summary, to=sid)

    def detach(self, sid: str, user_id: str) -> None:
        self.outbox.leave(sid, dm_room(user_id))

    def _catch_up(
        self,
        sid: str,
        user_id: str,
        after: int,
        fetch: Callable[[str, int, int], list[DirectMessage]],
        mark: dict[str, bool],
    ) -> int:
        """Sends what `fetch` finds after `after` up to the watermark, then joins the room;
        returns the id through which the connection has everything."""
        outbox = self.outbox
        budget = self.settings.max_answer_bytes
        sent = sent_bytes = 0
        cut_after = None
        ignored: dict[str, bool] = {}
        while True:
            watermark = self.watermark
            if (watermark == 0 or watermark > after) and cut_after is None:
                missed = fetch(user_id, after, MAX_REPLAY - sent)
                wires = with_quotes(missed, self.store, **mark)
                for message, wire in zip(missed, wires, strict=True):
                    if watermark and message.id > watermark:
                        break
                    if self.hidden_from(user_id, message, ignored):
                        after = message.id
                        continue
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
                return after if cut_after is None else cut_after


def _inbox_full(recipient: str, full: UnreadCapReached) -> Refused:
    if full.per_sender:
        return Refused(
            Code.INBOX_FULL,
            f"{recipient} has not read your last {full.cap} messages yet: wait until they have.",
        )
    return Refused(
        Code.INBOX_FULL,
        f"{recipient} has too many unread messages: wait until they have read some.",
    )
