"""Who sent a game event: a named connection within its rate limit (invites, arenas, records)."""

from __future__ import annotations

from rpschat.domain.errors import Code, Refused
from rpschat.domain.ports import Callers, Limits, NamedConnection

PICK_A_NAME = "Pick a name before you play."


def player_calling(callers: Callers, limits: Limits, sid: str) -> NamedConnection:
    """The caller's named connection, after its "other" rate limit; refused without a name."""
    try:
        conn = callers.named(sid)
    except Refused:
        raise Refused(Code.NAME_REQUIRED, PICK_A_NAME) from None
    limits.limit(conn, "other")
    return conn
