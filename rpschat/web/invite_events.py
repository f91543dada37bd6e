"""Invite links and open challenges on the wire (docs/protocol.md, "Invites and open
challenges"): each reads its payload and calls game/invites.py's Invites."""

from __future__ import annotations

from typing import Any

from flask import request

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.invites import NO_SUCH_INVITE, Invites
from rpschat.domain.game.rules import parse_best_of
from rpschat.web.payloads import as_object

OK: dict[str, Any] = {"ok": True}
INVITE_SHAPE = "{best_of: 3}"
CODE_SHAPE = '{code: "k7m2p9x4qa"}'
OPEN_IS_BOOL = "open must be true or false."
MAX_CODE = 32


def code_of(obj: dict) -> str:
    code = obj.get("code")
    if not isinstance(code, str) or not 0 < len(code) <= MAX_CODE:
        raise Refused(Code.NO_SUCH_INVITE, NO_SUCH_INVITE)
    return code.strip().lower()


def invite(invites: Invites, sid: str, payload: Any) -> dict:
    obj = as_object(payload, INVITE_SHAPE)
    best_of = parse_best_of(obj.get("best_of"))
    open_ = obj.get("open", False)
    if not isinstance(open_, bool):
        raise Refused(Code.BAD_REQUEST, OPEN_IS_BOOL, field="open")
    made = invites.invite(sid, best_of, open_)
    # the link as the inviter's browser reached this server (its host, behind a proxy too)
    return {"ok": True, **made, "url": request.host_url.rstrip("/") + made["url"]}


def accept_invite(invites: Invites, sid: str, payload: Any) -> dict:
    invites.accept(sid, code_of(as_object(payload, CODE_SHAPE)))
    return OK


def cancel_invite(invites: Invites, sid: str, payload: Any) -> dict:
    invites.cancel(sid, code_of(as_object(payload, CODE_SHAPE)))
    return OK


def open_challenges(invites: Invites, sid: str, _payload: Any) -> dict:
    return {"ok": True, "challenges": invites.list_open(sid)}


def my_invites(invites: Invites, sid: str, _payload: Any) -> dict:
    return {"ok": True, "invites": invites.mine(sid)}
