"""The direct messages' events on the wire (docs/protocol.md, "Direct messages"): each reads
its payload into typed arguments and calls the DmService method; both are answered once the
slow part (the commit, the read) is done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rpschat.domain.dms import LIMIT_REFUSAL, DmService
from rpschat.domain.errors import Code, Refused
from rpschat.domain.ports import MAX_ID
from rpschat.domain.text import CLIENT_ID_REFUSAL, NOT_A_MESSAGE
from rpschat.web.chat_events import page_ack, stored_ack
from rpschat.web.payloads import as_object, optional_string, optional_whole_number, string

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
    send = dms.check_dm(sid, to, text, client_id)
    return lambda: stored_ack(send())


def dm_history(dms: DmService, sid: str, payload: Any) -> Callable[[], dict]:
    obj = as_object(payload, DM_HISTORY_SHAPE)
    other = _name(obj, "with", DM_HISTORY_SHAPE)
    before = optional_whole_number(obj, "before", BEFORE_REFUSAL)
    limit = optional_whole_number(obj, "limit", LIMIT_REFUSAL)  # its range: the domain's
    read = dms.dm_history(sid, other, before, limit)
    return lambda: page_ack(read())
