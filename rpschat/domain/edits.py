"""Your own words, changed after the fact: editing or deleting a lobby message or a DM
(docs/protocol.md, "Editing and deleting your messages"), and the outcome of such changes
replayed to a client that resumes after missing them (a moderator's deletes too).

Every change is numbered (`seq`, one sequence for the lobby and DMs) in the same commit as
the change itself (`ChangeLog`). Each event that carries a change carries its `seq`, and the
message's state *after* it, so a change is idempotent: a client keeps, per message, the state
of the highest `seq` it has seen, and sends the highest it has seen as `auth.last_change` when
it resumes. The resume then sends the current state of every message changed since, after the
connection has joined its rooms: a change committed meanwhile may come twice (live and
replayed), and the per-message `seq` makes either order right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rpschat.domain.answers import MAX_REPLAY
from rpschat.domain.dms import dm_room
from rpschat.domain.errors import Code, Refused
from rpschat.domain.limits import ChatLimits
from rpschat.domain.ports import (
    LOBBY,
    Callers,
    ChangeLog,
    DirectMessage,
    DmStore,
    HistoryStore,
    Ignores,
    Limits,
    NamedConnection,
    Outbox,
    Posting,
    Runtime,
    StoredMessage,
)
from rpschat.domain.replies import reactions_wire
from rpschat.domain.text import clean_message


@dataclass(frozen=True)
class Edited:
    """What an edit's ack says."""

    id: int
    edited_at: int
    seq: int


@dataclass
class MessageEdits:
    callers: Callers
    limits: Limits
    posting: Posting  # a muted user can't edit either
    ignores: Ignores  # a DM hidden from its recipient (ignored sender): so are its changes
    history: HistoryStore
    dms: DmStore
    changes: ChangeLog
    outbox: Outbox
    runtime: Runtime
    settings: ChatLimits

    # ---- client events -----------------------------------------------------------------------

    def edit_message(self, sid: str, message_id: int, text: str, dm: bool) -> Edited:
        """The caller's own lobby message (or DM) gets `text`, within the edit window."""
        conn = self.callers.named(sid)
        text = clean_message(text, self.settings.max_message_chars)
        self.posting.check_can_post(conn)
        self.limits.limit(conn, "chat")  # the same limit as a new message
        now = self._now_ms()
        if dm:
            self._check_own(conn, self.dms.get(message_id), now)
            revised_dm = self.dms.edit(message_id, text, now)
            if revised_dm is None:
                raise _no_such_message()
            self._emit_dm_edited(revised_dm.message, revised_dm.seq, None)
            return Edited(message_id, now, revised_dm.seq)
        self._check_own(conn, self._lobby_message(message_id), now)
        revised = self.history.edit(message_id, text, now)
        if revised is None:
            raise _no_such_message()
        self._emit_edited(revised.message, revised.seq, LOBBY)
        return Edited(message_id, now, revised.seq)

    def delete_message(self, sid: str, message_id: int, dm: bool) -> int:
        """The caller's own message (lobby or game chat; or DM) goes, at any time, as a
        moderator's delete does; returns the change's `seq`."""
        conn = self.callers.named(sid)
        self.limits.limit(conn, "chat")
        if dm:
            self._check_own(conn, self.dms.get(message_id), None)
            gone_dm = self.dms.delete(message_id, self._now_ms())
            if gone_dm is None:
                raise _no_such_message()
            self._emit_dm_deleted(gone_dm.message, gone_dm.seq, None)
            return gone_dm.seq
        self._check_own(conn, self.history.get(message_id), None)
        gone = self.history.delete(message_id)
        if gone is None:
            raise _no_such_message()
        self.outbox.emit("message_deleted", {"id": message_id, "seq": gone.seq})
        return gone.seq

    def last_change(self) -> int:
        """The newest change's `seq`: where a client that has just loaded the history starts."""
        return self.changes.last_seq()

    # ---- a resume ----------------------------------------------------------------------------

    def replay_changes(self, sid: str, user_id: str, last_change: int) -> None:
        """The current state of each message (the lobby's, the user's DMs) changed after
        `last_change`, in the order of their latest change; at most MAX_REPLAY changes are
        looked at. A message that is gone comes as deleted; one edited, as edited; one reacted
        to, with its reactions; each with the `seq` of its latest change."""
        latest: dict[tuple[bool, int], tuple[int, set[str]]] = {}
        for change in self.changes.changes_after(user_id, last_change, MAX_REPLAY):
            _seq, kinds = latest.pop((change.dm, change.message_id), (0, set()))
            latest[(change.dm, change.message_id)] = change.seq, kinds | {change.kind}
        for (dm, message_id), (seq, kinds) in latest.items():
            message = self.dms.get(message_id) if dm else self.history.get(message_id)
            if isinstance(message, DirectMessage) and self._hidden_from(user_id, message):
                continue
            if message is None:
                event = "dm_deleted" if dm else "message_deleted"
                self.outbox.emit(event, {"id": message_id, "seq": seq, "replayed": True}, to=sid)
                continue
            if "edit" in kinds and message.edited_at is not None:
                if isinstance(message, DirectMessage):
                    self._emit_dm_edited(message, seq, sid, replayed=True)
                else:
                    self._emit_edited(message, seq, sid, replayed=True)
            if "react" in kinds:
                store: HistoryStore | DmStore = self.dms if dm else self.history
                now = store.reactions_of([message_id]).get(message_id, [])
                wire = {"id": message_id, "reactions": reactions_wire(now), "seq": seq}
                event = "dm_reactions" if dm else "reactions"
                self.outbox.emit(event, {**wire, "replayed": True}, to=sid)

    # ---- helpers -----------------------------------------------------------------------------

    def _lobby_message(self, message_id: int) -> StoredMessage | None:
        message = self.history.get(message_id)
        return message if message is not None and message.room == LOBBY else None

    def _check_own(
        self, conn: NamedConnection, message: StoredMessage | DirectMessage | None, now: int | None
    ) -> None:
        """The caller wrote it; and, for an edit (`now`), within the edit window."""
        if message is None:
            raise _no_such_message()
        author = message.user_id if isinstance(message, StoredMessage) else message.sender_id
        if author != conn.user_id:
            raise Refused(Code.NOT_YOUR_MESSAGE, "You can only change your own messages.")
        window = self.settings.edit_window_seconds
        if now is not None and now - message.ts > window * 1000:
            raise Refused(
                Code.EDIT_WINDOW_CLOSED,
                f"A message can only be edited in the {_duration(window)} after it was sent.",
            )

    def _emit_edited(
        self, message: StoredMessage, seq: int, to: str, replayed: bool = False
    ) -> None:
        wire = {"id": message.id, "txt": message.text, "edited_at": message.edited_at, "seq": seq}
        self.outbox.emit("message_edited", _marked(wire, replayed), to=to)

    def _emit_dm_edited(
        self, message: DirectMessage, seq: int, to: str | None, replayed: bool = False
    ) -> None:
        wire = {
            "id": message.id, "from": message.sender, "to": message.recipient,
            "text": message.text, "edited_at": message.edited_at, "seq": seq,
        }  # fmt: skip
        self.outbox.emit("dm_edited", _marked(wire, replayed), to=to or self._dm_rooms(message))

    def _emit_dm_deleted(self, message: DirectMessage, seq: int, to: str | None) -> None:
        self.outbox.emit(
            "dm_deleted", {"id": message.id, "seq": seq}, to=to or self._dm_rooms(message)
        )

    def _hidden_from(self, user_id: str, message: DirectMessage) -> bool:
        """A DM of a sender its recipient ignores is never shown to the recipient."""
        return message.recipient_id == user_id and self.ignores.ignores(user_id, message.sender_id)

    def _dm_rooms(self, message: DirectMessage) -> list[str]:
        rooms = [dm_room(message.sender_id)]
        if not self.ignores.ignores(message.recipient_id, message.sender_id):
            rooms.append(dm_room(message.recipient_id))
        return rooms

    def _now_ms(self) -> int:
        return int(self.runtime.now() * 1000)


def _marked(wire: dict[str, Any], replayed: bool) -> dict[str, Any]:
    return {**wire, "replayed": True} if replayed else wire


def _no_such_message() -> Refused:
    return Refused(Code.NO_SUCH_MESSAGE, "No such message.")


def _duration(seconds: int) -> str:
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} seconds"
