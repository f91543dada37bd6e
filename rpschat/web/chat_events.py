"""The chat's events on the wire: each reads its payload into typed arguments, calls the
ChatService method of the same name and shapes its answer into the ack (docs/protocol.md,
"Chat", "Presence", "History"). A bad shape is refused here, before the domain is called."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rpschat.domain.chat import PAGE_LIMIT_REFUSAL, Auth, ChatService, MessagePage, Stored
from rpschat.domain.errors import Code, Refused
from rpschat.domain.names import PASSWORD_REFUSAL
from rpschat.domain.ports import MAX_ID
from rpschat.domain.text import CLIENT_ID_REFUSAL, NOT_A_MESSAGE, NOT_A_NAME
from rpschat.web.payloads import (
    as_object,
    optional_string,
    optional_whole_number,
    secret,
    string,
)

MAX_AFTER_CHARS = 200
PASSWORD_SHAPE = '{password: "..."}'
LAST_ID_REFUSAL = f"last_id must be a whole number from 0 to {MAX_ID}."
DM_LAST_ID_REFUSAL = f"dm_last_id must be a whole number from 0 to {MAX_ID}."
HISTORY_CURSOR_REFUSAL = f"before and after must be whole numbers from 0 to {MAX_ID}."


def auth(raw: Any) -> Auth:
    """The handshake's `auth`: anything but an object is none (a new user)."""
    obj = raw if isinstance(raw, dict) else {}
    last_id = optional_whole_number(obj, "last_id", LAST_ID_REFUSAL)
    dm_last_id = optional_whole_number(obj, "dm_last_id", DM_LAST_ID_REFUSAL)
    return Auth(secret(obj, "token"), last_id, dm_last_id)


def set_username(chat: ChatService, sid: str, payload: Any) -> dict:
    obj = as_object(payload, '{username: "Ada"}')
    username = string(obj, "username", NOT_A_NAME)
    named = chat.set_username(sid, username, secret(obj, "password"))
    return {"ok": True, "username": named.username, "token": named.token}


def message(chat: ChatService, sid: str, payload: Any) -> Callable[[], dict]:
    """Checked now; the returned part stores the message and answers once it is committed."""
    obj = as_object(payload, '{msg: "hello"}')
    text = string(obj, "msg", NOT_A_MESSAGE)
    client_id = optional_string(obj, "client_id", CLIENT_ID_REFUSAL)
    store = chat.check_message(sid, text, client_id)
    return lambda: stored_ack(store())


def stored_ack(stored: Stored) -> dict:
    ack = {"ok": True, "id": stored.id, "ts": stored.ts}
    if stored.duplicate:
        ack["duplicate"] = True
    return ack


def users(chat: ChatService, sid: str, payload: Any) -> dict:
    after = payload.get("after") if isinstance(payload, dict) else None  # any payload: page 1
    if after is not None and (not isinstance(after, str) or len(after) > MAX_AFTER_CHARS):
        raise Refused(
            Code.BAD_REQUEST,
            "after must be a name (a string of at most 200 characters).",
            field="after",
        )
    page = chat.users(sid, after)
    return {"ok": True, "users": page.names, "count": page.count, "has_more": page.has_more}


def typing(chat: ChatService, sid: str, payload: Any) -> dict:
    typing = as_object(payload, "{typing: true}").get("typing")
    if not isinstance(typing, bool):
        raise Refused(Code.BAD_REQUEST, "typing must be true or false.", field="typing")
    chat.typing(sid, typing)
    return {"ok": True}


def history(chat: ChatService, sid: str, payload: Any) -> dict:
    obj = as_object(payload, "{before: 42, limit: 50}")
    before = optional_whole_number(obj, "before", HISTORY_CURSOR_REFUSAL)
    after = optional_whole_number(obj, "after", HISTORY_CURSOR_REFUSAL)
    limit = optional_whole_number(obj, "limit", PAGE_LIMIT_REFUSAL)  # its range: the domain's
    return page_ack(chat.history_page(sid, before, after, limit))


def page_ack(page: MessagePage) -> dict:
    return {"ok": True, "messages": page.messages, "has_more": page.has_more}


def claim_name(chat: ChatService, sid: str, payload: Any) -> dict:
    password = string(as_object(payload, PASSWORD_SHAPE), "password", PASSWORD_REFUSAL)
    return {"ok": True, "username": chat.claim_name(sid, password)}


def release_name(chat: ChatService, sid: str, payload: Any) -> dict:
    password = secret(as_object(payload, PASSWORD_SHAPE), "password")
    chat.release_name(sid, password or "")  # none at all: a wrong password too
    return {"ok": True}
