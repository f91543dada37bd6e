"""The chat's events on the wire: each reads its payload into typed arguments, calls the
method of the same name (on `Identity`, `Lobby` or `ClaimedNames`) and shapes its answer into
the ack (docs/protocol.md, "Chat", "Presence", "History"). A bad shape is refused here, before
the domain is called."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rpschat.domain.answers import MessagePage, Stored
from rpschat.domain.claims import Claimed, ClaimedNames
from rpschat.domain.errors import Code, Refused
from rpschat.domain.identity import Identity, Named
from rpschat.domain.lobby import PAGE_LIMIT_REFUSAL, Lobby
from rpschat.domain.names import PASSWORD_REFUSAL
from rpschat.domain.ports import MAX_ID
from rpschat.domain.sessions import Auth
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
LAST_CHANGE_REFUSAL = f"last_change must be a whole number from 0 to {MAX_ID}."
REPLY_TO_REFUSAL = f"reply_to must be a whole number from 1 to {MAX_ID}."
HISTORY_CURSOR_REFUSAL = f"before and after must be whole numbers from 0 to {MAX_ID}."


def auth(raw: Any) -> Auth:
    """The handshake's `auth`: anything but an object is none (a new user)."""
    obj = raw if isinstance(raw, dict) else {}
    last_id = optional_whole_number(obj, "last_id", LAST_ID_REFUSAL)
    dm_last_id = optional_whole_number(obj, "dm_last_id", DM_LAST_ID_REFUSAL)
    last_change = optional_whole_number(obj, "last_change", LAST_CHANGE_REFUSAL)
    return Auth(secret(obj, "token"), last_id, dm_last_id, last_change)


def set_username(identity: Identity, sid: str, payload: Any) -> dict:
    obj = as_object(payload, '{username: "Ada"}')
    username = string(obj, "username", NOT_A_NAME)
    named = identity.set_username(sid, username, secret(obj, "password"), secret(obj, "device"))
    return device_ack({"ok": True, "username": named.username, "token": named.token}, named)


def device_ack(ack: dict, named: Named | Claimed) -> dict:
    """`device`: the device token a password log-in or a claim gives (docs/protocol.md)."""
    if named.device is not None:
        ack["device"] = named.device
    return ack


def message(lobby: Lobby, sid: str, payload: Any) -> Callable[[], dict]:
    """Checked now; the returned part stores the message and answers once it is committed."""
    obj = as_object(payload, '{msg: "hello"}')
    text = string(obj, "msg", NOT_A_MESSAGE)
    client_id = optional_string(obj, "client_id", CLIENT_ID_REFUSAL)
    reply_to = optional_whole_number(obj, "reply_to", REPLY_TO_REFUSAL, 1)
    store = lobby.check_message(sid, text, client_id, reply_to)
    return lambda: stored_ack(store())


def stored_ack(stored: Stored) -> dict:
    ack = {"ok": True, "id": stored.id, "ts": stored.ts}
    if stored.duplicate:
        ack["duplicate"] = True
    return ack


def users(lobby: Lobby, sid: str, payload: Any) -> dict:
    after = payload.get("after") if isinstance(payload, dict) else None  # any payload: page 1
    if after is not None and (not isinstance(after, str) or len(after) > MAX_AFTER_CHARS):
        raise Refused(
            Code.BAD_REQUEST,
            "after must be a name (a string of at most 200 characters).",
            field="after",
        )
    page = lobby.users(sid, after)
    return {"ok": True, "users": page.names, "count": page.count, "has_more": page.has_more}


def typing(lobby: Lobby, sid: str, payload: Any) -> dict:
    typing = as_object(payload, "{typing: true}").get("typing")
    if not isinstance(typing, bool):
        raise Refused(Code.BAD_REQUEST, "typing must be true or false.", field="typing")
    lobby.typing(sid, typing)
    return {"ok": True}


def history(lobby: Lobby, sid: str, payload: Any) -> dict:
    obj = as_object(payload, "{before: 42, limit: 50}")
    before = optional_whole_number(obj, "before", HISTORY_CURSOR_REFUSAL)
    after = optional_whole_number(obj, "after", HISTORY_CURSOR_REFUSAL)
    limit = optional_whole_number(obj, "limit", PAGE_LIMIT_REFUSAL)  # its range: the domain's
    return page_ack(lobby.history_page(sid, before, after, limit))


def page_ack(page: MessagePage) -> dict:
    return {"ok": True, "messages": page.messages, "has_more": page.has_more}


def claim_name(claims: ClaimedNames, sid: str, payload: Any) -> dict:
    password = string(as_object(payload, PASSWORD_SHAPE), "password", PASSWORD_REFUSAL)
    claimed = claims.claim_name(sid, password)
    return device_ack({"ok": True, "username": claimed.username}, claimed)


def release_name(claims: ClaimedNames, sid: str, payload: Any) -> dict:
    password = secret(as_object(payload, PASSWORD_SHAPE), "password")
    token = claims.release_name(sid, password or "")  # none at all: a wrong password too
    return {"ok": True, "token": token}


CHANGE_SHAPE = '{password: "...", new_password: "..."}'


def change_password(claims: ClaimedNames, sid: str, payload: Any) -> dict:
    obj = as_object(payload, CHANGE_SHAPE)
    password = secret(obj, "password")
    new_password = string(obj, "new_password", PASSWORD_REFUSAL)
    changed = claims.change_password(sid, password or "", new_password)
    return device_ack({"ok": True, "username": changed.username, "token": changed.token}, changed)


def end_sessions(claims: ClaimedNames, sid: str, payload: Any) -> dict:
    password = secret(as_object(payload, PASSWORD_SHAPE), "password")
    return {"ok": True, "token": claims.end_sessions(sid, password or "")}
