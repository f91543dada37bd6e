"""The moderation events on the wire (docs/protocol.md, "Moderation"): each reads its payload
into typed arguments, calls the ModerationService method of the same name and shapes its
answer into the ack. A bad shape is refused here, before the domain is called."""

from __future__ import annotations

from typing import Any

from rpschat.domain.moderation import (
    LOG_LIMIT_REFUSAL,
    MINUTES_REFUSAL,
    REASON_REFUSAL,
    ModerationService,
)
from rpschat.domain.ports import MAX_ID
from rpschat.domain.reports import Reports
from rpschat.domain.room_tools import PURGE_MINUTES_REFUSAL, SLOW_REFUSAL, RoomTools
from rpschat.domain.text import NOT_A_NAME
from rpschat.web.payloads import (
    as_object,
    optional_string,
    optional_whole_number,
    required_whole_number,
    string,
)

ID_REFUSAL = f"id must be a whole number from 1 to {MAX_ID}."


def mod_delete(moderation: ModerationService, sid: str, payload: Any) -> dict:
    message_id = required_whole_number(as_object(payload, "{id: 42}"), "id", ID_REFUSAL, 1)
    moderation.mod_delete(sid, message_id)
    return {"ok": True}


def mod_mute(moderation: ModerationService, sid: str, payload: Any) -> dict:
    obj = as_object(payload, '{name: "Bea", minutes: 10, reason: "spam"}')
    minutes, reason = _minutes(obj), optional_string(obj, "reason", REASON_REFUSAL)
    until = moderation.mod_mute(sid, string(obj, "name", NOT_A_NAME), minutes, reason)
    return {"ok": True, "until": until}


def mod_unmute(moderation: ModerationService, sid: str, payload: Any) -> dict:
    moderation.mod_unmute(sid, string(as_object(payload, '{name: "Bea"}'), "name", NOT_A_NAME))
    return {"ok": True}


def mod_kick(moderation: ModerationService, sid: str, payload: Any) -> dict:
    obj = as_object(payload, '{name: "Bea", reason: "spam"}')
    reason = optional_string(obj, "reason", REASON_REFUSAL)
    moderation.mod_kick(sid, string(obj, "name", NOT_A_NAME), reason)
    return {"ok": True}


def mod_ban(moderation: ModerationService, sid: str, payload: Any) -> dict:
    obj = as_object(payload, '{name: "Bea", minutes: 60, reason: "abuse"}')
    minutes, reason = _minutes(obj), optional_string(obj, "reason", REASON_REFUSAL)
    until = moderation.mod_ban(sid, string(obj, "name", NOT_A_NAME), minutes, reason)
    return {"ok": True, "until": until}


def mod_log(moderation: ModerationService, sid: str, payload: Any) -> dict:
    obj = payload if isinstance(payload, dict) else {}  # any payload: the default limit
    limit = optional_whole_number(obj, "limit", LOG_LIMIT_REFUSAL)  # its range: the domain's
    return {"ok": True, "actions": moderation.mod_log(sid, limit)}


def report(reports: Reports, sid: str, payload: Any) -> dict:
    obj = as_object(payload, '{id: 42, reason: "abuse"}')
    message_id = required_whole_number(obj, "id", ID_REFUSAL, 1)
    filed = reports.report(sid, message_id, optional_string(obj, "reason", REASON_REFUSAL))
    return {"ok": True} if filed else {"ok": True, "duplicate": True}


def mod_reports(reports: Reports, sid: str, payload: Any) -> dict:
    return {"ok": True, "reports": reports.mod_reports(sid)}


def mod_resolve(reports: Reports, sid: str, payload: Any) -> dict:
    obj = as_object(payload, "{message_id: 42}")
    message_id = required_whole_number(
        obj, "message_id", ID_REFUSAL.replace("id", "message_id", 1), 1
    )
    return {"ok": True, "resolved": reports.mod_resolve(sid, message_id)}


def ignore(moderation: ModerationService, sid: str, payload: Any) -> dict:
    name = string(as_object(payload, '{name: "Bea"}'), "name", NOT_A_NAME)
    return {"ok": True, "name": moderation.ignore(sid, name)}


def unignore(moderation: ModerationService, sid: str, payload: Any) -> dict:
    name = string(as_object(payload, '{name: "Bea"}'), "name", NOT_A_NAME)
    return {"ok": True, "name": moderation.unignore(sid, name)}


def _minutes(obj: dict) -> int:
    return required_whole_number(obj, "minutes", MINUTES_REFUSAL)  # its range: the domain's


def mod_unban(tools: RoomTools, sid: str, payload: Any) -> dict:
    name = tools.mod_unban(sid, string(as_object(payload, '{name: "Bea"}'), "name", NOT_A_NAME))
    return {"ok": True, "name": name}


def mod_slow(tools: RoomTools, sid: str, payload: Any) -> dict:
    obj = as_object(payload, "{seconds: 30}")
    tools.mod_slow(sid, required_whole_number(obj, "seconds", SLOW_REFUSAL))
    return {"ok": True}


def my_roles(tools: RoomTools, sid: str, payload: Any) -> dict:
    return {"ok": True, "roles": tools.my_roles(sid)}


def mod_grant(tools: RoomTools, sid: str, payload: Any) -> dict:
    name = string(as_object(payload, '{name: "Bea"}'), "name", NOT_A_NAME)
    shown, granted = tools.mod_grant(sid, name)
    return {"ok": True, "name": shown, "granted": granted}


def mod_revoke(tools: RoomTools, sid: str, payload: Any) -> dict:
    name = string(as_object(payload, '{name: "Bea"}'), "name", NOT_A_NAME)
    return {"ok": True, "name": tools.mod_revoke(sid, name)}


def mod_purge(tools: RoomTools, sid: str, payload: Any) -> dict:
    obj = as_object(payload, '{user: "Bea", minutes: 30}')
    name = string(obj, "user", NOT_A_NAME)
    minutes = required_whole_number(obj, "minutes", PURGE_MINUTES_REFUSAL, 1)
    return {"ok": True, "deleted": tools.mod_purge(sid, name, minutes)}
