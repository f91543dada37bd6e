"""The lobby: its messages (checked, stored, then broadcast), their history, the names online,
typing, and what everyone is told when users come, rename and go.

Replays. A resuming connection is sent what it missed, then joins the lobby's room. The
watermark is the highest lobby message id delivered to this node's sockets (with Redis, the
message queue reports those sent from any node): messages up to it are sent from storage, later
ones reach the connection live, so each comes once.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rpschat.domain.answers import MAX_REPLAY, MessagePage, Stored, fit_answer, wire_bytes
from rpschat.domain.errors import Code, Refused
from rpschat.domain.limits import ChatLimits
from rpschat.domain.ports import (
    LOBBY,
    Callers,
    ChangeLog,
    Directory,
    HistoryStore,
    Limits,
    NamedConnection,
    Outbox,
    Posting,
    SlowPace,
    StoredMessage,
)
from rpschat.domain.replies import quoted, with_quotes
from rpschat.domain.text import clean_client_id, clean_message, name_key

MAX_PAGE = 200
PAGE_LIMIT_REFUSAL = f"limit must be a whole number from 1 to {MAX_PAGE}."


@dataclass(frozen=True)
class UsersPage:
    """One page of the names online (`users`)."""

    names: list[str]
    count: int  # everyone online, not only this page
    has_more: bool


@dataclass
class Lobby:
    callers: Callers
    limits: Limits
    posting: Posting  # a muted user's messages are refused
    history: HistoryStore
    directory: Directory
    outbox: Outbox
    settings: ChatLimits
    changes: ChangeLog | None = None  # its newest seq goes with the history (domain/edits.py)
    slow: SlowPace | None = None  # slow mode (domain/slow_mode.py)
    # The highest lobby message id delivered to this node's sockets (see `replay`).
    broadcast_watermark: int = 0

    # ---- client events -----------------------------------------------------------------------

    def check_message(
        self, sid: str, text: str, client_id: str | None, reply_to: int | None = None
    ) -> Callable[[], Stored]:
        """Validate a chat message now, in arrival order; return the (blocking) store.

        The split lets the web layer keep each client's messages in order while the storing
        waits for its group commit off the connection's reader."""
        conn = self.callers.named(sid)
        text = clean_message(text, self.settings.max_message_chars)
        client_id = clean_client_id(client_id)
        self.posting.check_can_post(conn)
        self.limits.limit(conn, "chat")
        if self.slow is not None:
            self.slow.check(conn)
        return lambda: self._store_message(conn, text, client_id, reply_to)

    def _store_message(
        self, conn: NamedConnection, text: str, client_id: str | None, reply_to: int | None
    ) -> Stored:
        sender_sid = conn.sid
        parent = None
        if reply_to is not None:  # read in the slow part, off the connection's reader
            parent = self.history.get(reply_to)
            if parent is None or parent.room != LOBBY:
                raise Refused(Code.NO_SUCH_MESSAGE, "The message you reply to is gone.")

        def broadcast(message: StoredMessage) -> None:
            self.note_delivered(message.id)
            wire = message.to_wire()
            if parent is not None:
                wire["reply_to"] = quoted(parent.id, parent)
            self.outbox.emit("message", wire, to=LOBBY, skip_sid=sender_sid)

        message, duplicate = self.history.append(
            LOBBY, conn.user_id, conn.name, text, client_id=client_id, on_commit=broadcast,
            reply_to=reply_to,
        )  # fmt: skip
        return Stored(message.id, message.ts, duplicate)

    def users(self, sid: str, after: str | None) -> UsersPage:
        """Names online, sorted; in pages when they don't fit in one answer (`after`)."""
        self.limits.limit(self.callers.connection(sid), "other")
        names = self.directory.names()
        count = len(names)
        if after is not None:
            key = name_key(after)
            names = names[bisect_right(names, key, key=name_key) :]
        names, has_more = fit_answer(names, False, self.settings.max_answer_bytes)
        return UsersPage(names, count, has_more)

    def typing(self, sid: str, typing: bool) -> None:
        conn = self.callers.named(sid)
        self.limits.limit(conn, "other")
        update = {"name": conn.name, "typing": typing}
        self.outbox.emit("typing", update, to=LOBBY, skip_sid=sid)

    def history_page(
        self, sid: str, before: int | None, after: int | None, limit: int | None
    ) -> MessagePage:
        """A page of the lobby's messages older than `before`, or newer than `after`."""
        conn = self.callers.named(sid)
        if limit is None:
            limit = 50
        if not 1 <= limit <= MAX_PAGE:
            raise Refused(Code.BAD_REQUEST, PAGE_LIMIT_REFUSAL, field="limit")
        self.limits.limit(conn, "other")
        messages, has_more = self.history.page(LOBBY, before=before, after=after, limit=limit)
        # older pages keep the newest of theirs, newer pages (`after`) the oldest: either way
        # the next request continues where this one stopped
        wire, cut = self._fit(self._wires(messages), keep_newest=after is None)
        return MessagePage(wire, has_more or cut)

    def note_delivered(self, message_id: int) -> None:
        """A lobby message reached this node's sockets (with Redis: sent from any node)."""
        self.broadcast_watermark = max(self.broadcast_watermark, message_id)

    # ---- names coming and going (LobbyEntry, PresenceListener) -------------------------------

    def announce_entry(self, sid: str, name: str) -> None:
        txt = f"{name} has entered the chat!"
        self.outbox.emit("message", {"name": None, "txt": txt}, to=LOBBY, skip_sid=sid)
        self._push_presence("join", name)

    def announce_rename(self, sid: str, old: str, new: str) -> None:
        txt = f"{old} is now known as {new}."
        self.outbox.emit("message", {"name": None, "txt": txt}, to=LOBBY, skip_sid=sid)
        self._push_presence("rename", new, old_name=old)

    def user_dropped(self, user_id: str, name: str) -> None:
        """Nothing to say yet: the name is held for the grace period."""

    def user_back(self, user_id: str, name: str, sid: str, last_id: int | None) -> None:
        """The naming services send what a returning user needs (`send_recent`, `replay`)."""

    def user_gone(self, user_id: str, name: str, removed: bool) -> None:
        if not removed:  # a removal is announced by the moderation, saying why
            txt = f"{name} has left the chat!"
            self.outbox.emit("message", {"name": None, "txt": txt}, to=LOBBY)
        self._push_presence("leave", name)

    def _push_presence(self, action: str, name: str, **extra: Any) -> None:
        update = {"action": action, "name": name, **extra, "count": self.directory.count()}
        self.outbox.emit("presence", update, to=LOBBY)

    # ---- what a connection is sent as it gets its name ---------------------------------------

    def send_recent(self, sid: str) -> None:
        if self.settings.history_on_join <= 0:
            return
        # read first: a change committed while the page is read comes again on a resume
        last_change = self.changes.last_seq() if self.changes is not None else None
        messages, has_more = self.history.page(LOBBY, limit=self.settings.history_on_join)
        wire, cut = self._fit(self._wires(messages), keep_newest=True)
        recent: dict[str, Any] = {"messages": wire, "has_more": has_more or cut}
        if last_change is not None:
            recent["last_change"] = last_change
        if self.slow is not None:
            recent["slow_mode"] = self.slow.seconds()
        self.outbox.emit("history", recent, to=sid)

    def replay(self, sid: str, last_id: int) -> None:
        """Send what the client missed, in order, then let live messages flow.

        Messages up to the watermark were delivered here before this connection joined the
        lobby, so they are replayed; later ones reach it live. Joining right after seeing the
        watermark unchanged (no yield in between) leaves no gap and sends nothing twice. A node
        that has delivered nothing yet replays everything stored (docs/protocol.md, "Resume")."""
        sent = sent_bytes = 0
        budget = self.settings.max_answer_bytes
        cut_after = None  # the last id replayed, when the replay stopped short of the watermark
        while True:
            watermark = self.broadcast_watermark
            if (watermark == 0 or watermark > last_id) and cut_after is None:
                missed = self.history.after(LOBBY, last_id, MAX_REPLAY - sent)
                for message, wire in zip(missed, self._wires(missed, replayed=True), strict=True):
                    if watermark and message.id > watermark:
                        break
                    sent_bytes += wire_bytes(wire)
                    if sent and budget is not None and sent_bytes > budget:
                        cut_after = last_id
                        break
                    self.outbox.emit("message", wire, to=sid)
                    sent += 1
                    last_id = message.id
                    if sent >= MAX_REPLAY:
                        cut_after = last_id
                        break
                last_id = max(last_id, watermark)
            if self.broadcast_watermark == watermark:
                if cut_after is not None:
                    self.outbox.emit("replay_truncated", {"last_id": cut_after}, to=sid)
                self.outbox.join(sid, LOBBY)
                return

    def _wires(self, messages: list[StoredMessage], **extra: Any) -> list[dict[str, Any]]:
        return with_quotes(messages, self.history, **extra)

    def _fit(self, items: list[Any], keep_newest: bool) -> tuple[list[Any], bool]:
        return fit_answer(items, keep_newest, self.settings.max_answer_bytes)
