"""The game's events on the wire: each reads its payload into typed arguments, calls the
GameService method of the same name and shapes its answer into the ack (docs/protocol.md,
"Rock-paper-scissors"). A bad shape or a field of the wrong type is refused here, before the
domain is called (so before the name, the game and the rate limit are checked)."""

from __future__ import annotations

from typing import Any

from rpschat.domain.errors import Refused
from rpschat.domain.game.context import NO_SUCH_GAME
from rpschat.domain.game.pairing import OPPONENT_REFUSAL
from rpschat.domain.game.rules import NOT_A_MOVE, parse_best_of
from rpschat.domain.games import GameService
from rpschat.web.payloads import as_object

OK: dict[str, Any] = {"ok": True}
FIND_MATCH_SHAPE = "{best_of: 3}"
THROW_SHAPE = '{game_id: "g7Hk", move: "rock"}'
GAME_SHAPE = '{game_id: "g7Hk"}'
COMPUTER = "computer"  # the one `opponent` there is: a person is the queue's


def game_id_of(obj: dict) -> str:
    """A game id names a game only as a string (its length the domain checks)."""
    game_id = obj.get("game_id")
    if not isinstance(game_id, str):
        raise Refused(NO_SUCH_GAME)
    return game_id


def find_match(games: GameService, sid: str, payload: Any) -> dict:
    obj = as_object(payload, FIND_MATCH_SHAPE)
    best_of = parse_best_of(obj.get("best_of"))
    opponent = obj.get("opponent")
    if opponent is not None and opponent != COMPUTER:
        raise Refused(OPPONENT_REFUSAL)
    games.find_match(sid, best_of, computer=opponent == COMPUTER)
    return OK


def cancel_match(games: GameService, sid: str, _payload: Any) -> dict:
    games.cancel_match(sid)
    return OK


def throw(games: GameService, sid: str, payload: Any) -> dict:
    obj = as_object(payload, THROW_SHAPE)
    game_id = game_id_of(obj)
    move = obj.get("move")
    if not isinstance(move, str):
        raise Refused(NOT_A_MOVE)
    games.throw(sid, game_id, move)
    return OK


def leave_game(games: GameService, sid: str, payload: Any) -> dict:
    games.leave_game(sid, game_id_of(as_object(payload, GAME_SHAPE)))
    return OK
