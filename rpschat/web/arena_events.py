"""Arenas on the wire (docs/protocol.md, "Arenas"): each reads its payload and calls
game/arenas.py's Arenas."""

from __future__ import annotations

from typing import Any

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.arenas import NO_SUCH_ARENA, Arenas
from rpschat.domain.game.rules import parse_best_of
from rpschat.web.payloads import as_object, required_whole_number

OK: dict[str, Any] = {"ok": True}
CREATE_SHAPE = "{starts_at: 1764090000000, minutes: 30, best_of: 1}"
ARENA_SHAPE = '{arena_id: "aK3x"}'


def arena_id_of(payload: Any) -> str:
    arena_id = as_object(payload, ARENA_SHAPE).get("arena_id")
    if not isinstance(arena_id, str) or not 0 < len(arena_id) <= 32:
        raise Refused(Code.NO_SUCH_ARENA, NO_SUCH_ARENA)
    return arena_id


def arena_create(arenas: Arenas, sid: str, payload: Any) -> dict:
    obj = as_object(payload, CREATE_SHAPE)
    starts_at = required_whole_number(
        obj, "starts_at", "starts_at must be a time in ms since the epoch."
    )
    minutes = required_whole_number(obj, "minutes", "minutes must be a whole number.")
    best_of = parse_best_of(obj.get("best_of", 1))
    return {"ok": True, "arena": arenas.create(sid, starts_at, minutes, best_of)}


def arena_join(arenas: Arenas, sid: str, payload: Any) -> dict:
    return {"ok": True, "arena": arenas.join(sid, arena_id_of(payload))}


def arena_leave(arenas: Arenas, sid: str, payload: Any) -> dict:
    arenas.leave(sid, arena_id_of(payload))
    return OK


def arena_watch(arenas: Arenas, sid: str, payload: Any) -> dict:
    return {"ok": True, "arena": arenas.watch(sid, arena_id_of(payload))}


def arena_standings(arenas: Arenas, sid: str, payload: Any) -> dict:
    return {"ok": True, "arena": arenas.watch(sid, arena_id_of(payload))}


def arenas_list(arenas: Arenas, sid: str, _payload: Any) -> dict:
    return {"ok": True, "arenas": arenas.list(sid)}
