"""The events that change one's own messages (docs/protocol.md, "Editing and deleting your
messages"): each reads its payload into typed arguments and calls the MessageEdits method of the
same name."""

from __future__ import annotations

from typing import Any

from rpschat.domain.edits import MessageEdits
from rpschat.domain.errors import Code, Refused
from rpschat.domain.reactions import EMOJI_REFUSAL, MessageReactions
from rpschat.domain.search import CURSOR_REFUSAL, QUERY_REFUSAL, MessageSearch
from rpschat.domain.text import NOT_A_MESSAGE
from rpschat.web.moderation_events import ID_REFUSAL
from rpschat.web.payloads import (
    as_object,
    optional_string,
    optional_whole_number,
    required_whole_number,
    string,
)

EDIT_SHAPE = '{id: 42, text: "hello"}'
DM_FLAG_REFUSAL = "dm must be true (a direct message's id) or false (a lobby message's)."


def _dm_flag(obj: dict) -> bool:
    dm = obj.get("dm", False)
    if not isinstance(dm, bool):
        raise Refused(Code.BAD_REQUEST, DM_FLAG_REFUSAL, field="dm")
    return dm


def edit_message(edits: MessageEdits, sid: str, payload: Any) -> dict:
    obj = as_object(payload, EDIT_SHAPE)
    message_id = required_whole_number(obj, "id", ID_REFUSAL, 1)
    text = string(obj, "text", NOT_A_MESSAGE)
    edited = edits.edit_message(sid, message_id, text, _dm_flag(obj))
    return {"ok": True, "id": edited.id, "edited_at": edited.edited_at, "seq": edited.seq}


def delete_message(edits: MessageEdits, sid: str, payload: Any) -> dict:
    obj = as_object(payload, "{id: 42}")
    message_id = required_whole_number(obj, "id", ID_REFUSAL, 1)
    return {"ok": True, "seq": edits.delete_message(sid, message_id, _dm_flag(obj))}


REACT_SHAPE = '{id: 42, emoji: "👍"}'


def react(reactions: MessageReactions, sid: str, payload: Any) -> dict:
    obj = as_object(payload, REACT_SHAPE)
    message_id = required_whole_number(obj, "id", ID_REFUSAL, 1)
    emoji = string(obj, "emoji", EMOJI_REFUSAL)
    wire = reactions.react(sid, message_id, emoji, _dm_flag(obj))
    return {"ok": True, **wire}


SEARCH_SHAPE = '{q: "rematch from:Ada", before: "1042.17"}'


def search(searching: MessageSearch, sid: str, payload: Any) -> dict:
    obj = as_object(payload, SEARCH_SHAPE)
    q = string(obj, "q", QUERY_REFUSAL)
    before = optional_string(obj, "before", CURSOR_REFUSAL)
    limit = optional_whole_number(obj, "limit", "limit must be a whole number from 1 to 50.")
    page = searching.search(sid, q, before, limit)
    return {"ok": True, "hits": page.hits, "before": page.before, "has_more": page.has_more}
