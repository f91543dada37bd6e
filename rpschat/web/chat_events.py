"""The chat's events on the wire: each reads its payload into typed arguments, calls the
ChatService method of the same name and shapes its answer into the ack (docs/protocol.md,
"Chat", "Presence", "History"). A bad shape is refused here, before the domain is called."""

from __future__ import annotations

from typing import Any

from rpschat.domain.chat import ChatService
from rpschat.domain.errors import Refused
from rpschat.web.payloads import as_object

MAX_AFTER_CHARS = 200


def users(chat: ChatService, sid: str, payload: Any) -> dict:
    after = payload.get("after") if isinstance(payload, dict) else None  # any payload: page 1
    if after is not None and (not isinstance(after, str) or len(after) > MAX_AFTER_CHARS):
        raise Refused("after must be a name (a string of at most 200 characters).")
    page = chat.users(sid, after)
    return {"ok": True, "users": page.names, "count": page.count, "has_more": page.has_more}


def typing(chat: ChatService, sid: str, payload: Any) -> dict:
    typing = as_object(payload, "{typing: true}").get("typing")
    if not isinstance(typing, bool):
        raise Refused("typing must be true or false.")
    chat.typing(sid, typing)
    return {"ok": True}
