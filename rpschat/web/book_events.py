"""Finished games and profiles on the wire (docs/protocol.md, `game_record` and `profile`):
each reads its payload, calls GameBook and answers once the database is read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.book import NO_SUCH_PLAYER, GameBook
from rpschat.domain.game.context import NO_SUCH_GAME
from rpschat.web.payloads import as_object, required_string

GAME_RECORD_SHAPE = '{game_id: "g7Hk"}'
PROFILE_SHAPE = '{name: "Ada"}'
PROFILE_NAME = "name must be the name of a player."
MAX_GAME_ID = 64  # longer than any game id: refused without a read
MAX_NAME = 64


def check_game_record(book: GameBook, sid: str, payload: Any) -> Callable[[], dict]:
    obj = as_object(payload, GAME_RECORD_SHAPE)
    game_id = obj.get("game_id")
    if not isinstance(game_id, str) or not 0 < len(game_id) <= MAX_GAME_ID:
        raise Refused(Code.NO_SUCH_GAME, NO_SUCH_GAME)
    read = book.check_game_record(sid, game_id)
    return lambda: {"ok": True, "game": read()}


def check_profile(book: GameBook, sid: str, payload: Any) -> Callable[[], dict]:
    obj = as_object(payload, PROFILE_SHAPE)
    name = required_string(obj, "name", PROFILE_NAME, max_chars=MAX_NAME)
    if not name.strip():
        raise Refused(Code.NO_SUCH_PLAYER, NO_SUCH_PLAYER.format(name=name))
    read = book.check_profile(sid, name)
    return lambda: {"ok": True, "profile": read()}
