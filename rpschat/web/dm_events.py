"""The direct messages' events on the wire (docs/protocol.md, "Direct messages"): each reads
its payload into typed arguments and calls the DmService method; both are answered once the
slow part (the commit, the read) is done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rpschat.domain.conversations import DmConversations
from rpschat.domain.dms import LIMIT_REFUSAL, DmService
from rpschat.domain.errors import Code, Refused
from rpschat.domain.ports import MAX_ID
from rpschat.domain.text import CLIENT_ID_REFUSAL, NOT_A_MESSAGE
from rpschat.web.chat_events import REPLY_TO_REFUSAL, page_ack, stored_ack
from rpschat.web.payloads import (
    as_object,
    optional_string,
    optional_whole_number,
    required_whole_number,
    string,
)

DM_SHAPE = '{to: "Bea", text: "hello"}'
DM_HISTORY_SHAPE = '{with: "Bea", before: 42, limit: 50}'
BEFORE_REFUSAL = f"before must be a whole number from 0 to {MAX_ID}."


def _name(obj: dict, key: str, shape: str) -> str:
    """The other user's name: a blank one is refused as a bad shape, showing the shape."""
    name = obj.get(key)
    if not isinstance(name, str) or not name.strip():
        raise Refused(Code.BAD_REQUEST, f"Send an object like {shape}.", field=key)
    return name


def dm(dms: DmService, sid: str, payload: Any) -> Callable[[], dict]:
    obj = as_object(payload, DM_SHAPE)
    to = _name(obj, "to", DM_SHAPE)
    text = string(obj, "text", NOT_A_MESSAGE)
    client_id = optional_string(obj, "client_id", CLIENT_ID_REFUSAL)
    reply_to = optional_whole_number(obj, "reply_to", REPLY_TO_REFUSAL, 1)
    send = dms.check_dm(sid, to, text, client_id, reply_to)
    return lambda: stored_ack(send())


def dm_history(dms: DmService, sid: str, payload: Any) -> Callable[[], dict]:
    obj = as_object(payload, DM_HISTORY_SHAPE)
    other = _name(obj, "with", DM_HISTORY_SHAPE)
    before = optional_whole_number(obj, "before", BEFORE_REFUSAL)
    limit = optional_whole_number(obj, "limit", LIMIT_REFUSAL)  # its range: the domain's
    read = dms.dm_history(sid, other, before, limit)
    return lambda: page_ack(read())


DM_UNREAD_SHAPE = '{from: "Bea", limit: 50}'


def dm_unread(dms: DmService, sid: str, payload: Any) -> Callable[[], dict]:
    obj = payload if isinstance(payload, dict) else {}  # any payload: everyone's, the default
    sender = obj.get("from")
    if sender is not None and (not isinstance(sender, str) or not sender.strip()):
        raise Refused(Code.BAD_REQUEST, f"Send an object like {DM_UNREAD_SHAPE}.", field="from")
    limit = optional_whole_number(obj, "limit", LIMIT_REFUSAL)  # its range: the domain's
    read = dms.dm_unread(sid, sender, limit)

    def answer() -> dict:
        page = read()
        return {"ok": True, "messages": page.messages, "unread": page.unread}

    return answer


DM_CONVERSATIONS_SHAPE = "{limit: 50}"


def dm_conversations(conversations: DmConversations, sid: str, payload: Any) -> Callable[[], dict]:
    obj = payload if isinstance(payload, dict) else {}  # any payload: the default, as dm_unread
    limit = optional_whole_number(obj, "limit", LIMIT_REFUSAL)  # its range: the domain's
    read = conversations.conversations(sid, limit)

    def answer() -> dict:
        found = read()
        return {"ok": True, "conversations": found.conversations, "unread": found.unread}

    return answer


DM_READ_SHAPE = '{with: "Bea", id: 42}'
DM_READ_ID_REFUSAL = f"id must be a whole number from 0 to {MAX_ID}."


def dm_read(conversations: DmConversations, sid: str, payload: Any) -> Callable[[], dict]:
    obj = as_object(payload, DM_READ_SHAPE)
    other = _name(obj, "with", DM_READ_SHAPE)
    through = required_whole_number(obj, "id", DM_READ_ID_REFUSAL)
    mark = conversations.read(sid, other, through)
    return lambda: {"ok": True, "unread": mark()}
