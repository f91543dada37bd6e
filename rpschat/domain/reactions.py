"""Reactions (issue 25, point 4): `react {id, emoji, dm?}` toggles the caller's emoji, one of a
fixed dozen (domain/replies.py's EMOJI), on a lobby message or one of its DMs. The message's
reactions after the toggle (each emoji's count and who) go to every page that shows it, and
the toggle is a change numbered in the same commit (domain/edits.py): a resume with
`last_change` gets the reactions it missed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rpschat.domain.dms import dm_room
from rpschat.domain.errors import Code, Refused
from rpschat.domain.ports import (
    LOBBY,
    Callers,
    DmStore,
    HistoryStore,
    Ignores,
    Limits,
    Outbox,
    Posting,
    Runtime,
)
from rpschat.domain.replies import EMOJI, reactions_wire

EMOJI_REFUSAL = "emoji must be one of " + " ".join(EMOJI) + "."


@dataclass
class MessageReactions:
    callers: Callers
    limits: Limits
    posting: Posting  # a muted user can't react either
    ignores: Ignores  # a DM hidden from its recipient: so are its reactions
    history: HistoryStore
    dms: DmStore
    outbox: Outbox
    runtime: Runtime

    def react(self, sid: str, message_id: int, emoji: str, dm: bool) -> dict[str, Any]:
        """Toggles the caller's `emoji`; returns what everyone is sent: `{id, reactions, seq}`."""
        conn = self.callers.named(sid)
        if emoji not in EMOJI:
            raise Refused(Code.BAD_REQUEST, EMOJI_REFUSAL, field="emoji")
        self.posting.check_can_post(conn)
        self.limits.limit(conn, "other")
        now = int(self.runtime.now() * 1000)
        if dm:
            direct = self.dms.get(message_id)
            if direct is None or conn.user_id not in (direct.sender_id, direct.recipient_id):
                raise Refused(Code.NO_SUCH_MESSAGE, "No such message.")
            revised = self.dms.react(message_id, conn.user_id, conn.name, emoji, now)
            rooms = [dm_room(direct.sender_id)]
            if not self.ignores.ignores(direct.recipient_id, direct.sender_id):
                rooms.append(dm_room(direct.recipient_id))
        else:
            revised = self.history.react(message_id, conn.user_id, conn.name, emoji, now)
            rooms = [LOBBY]
        if revised is None:
            raise Refused(Code.NO_SUCH_MESSAGE, "No such message.")
        wire = {"id": message_id, "reactions": reactions_wire(revised.message), "seq": revised.seq}
        self.outbox.emit("dm_reactions" if dm else "reactions", wire, to=rooms)
        return wire
