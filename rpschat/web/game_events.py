"""The game's events on the wire: each reads its payload into typed arguments, calls the
GameService method of the same name and shapes its answer into the ack (docs/protocol.md,
"Rock-paper-scissors"). A bad shape or a field of the wrong type is refused here, before the
domain is called (so before the name, the game and the rate limit are checked)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.context import NO_SUCH_GAME
from rpschat.domain.game.matchmaking import NO_SUCH_CHALLENGE
from rpschat.domain.game.pairing import (
    MAX_ROUND_SECONDS,
    MIN_ROUND_SECONDS,
    OPPONENT_REFUSAL,
    ROUND_SECONDS_REFUSAL,
)
from rpschat.domain.game.records import LIMIT_REFUSAL
from rpschat.domain.game.rules import NOT_A_MOVE, parse_best_of
from rpschat.domain.game.service import GameService
from rpschat.domain.ports import MAX_ID
from rpschat.domain.text import CLIENT_ID_REFUSAL, NOT_A_MESSAGE
from rpschat.web.payloads import as_object, optional_string, optional_whole_number, string

OK: dict[str, Any] = {"ok": True}
FIND_MATCH_SHAPE = "{best_of: 3}"
THROW_SHAPE = '{game_id: "g7Hk", move: "rock"}'
GAME_SHAPE = '{game_id: "g7Hk"}'
CHALLENGE_SHAPE = '{to: "Bea", best_of: 3}'
ANSWER_SHAPE = '{challenge_id: "c1", accept: true}'
GAME_CHAT_SHAPE = '{game_id: "g7Hk", msg: "gg"}'
MY_GAMES_SHAPE = "{before: 42, limit: 20}"
ACCEPT_IS_BOOL = "accept must be true or false."
BEFORE_REFUSAL = f"before must be a whole number from 0 to {MAX_ID}."
COMPUTER = "computer"  # the one `opponent` there is: a person is the queue's


def game_id_of(obj: dict) -> str:
    """A game id names a game only as a string (its length the domain checks)."""
    game_id = obj.get("game_id")
    if not isinstance(game_id, str):
        raise Refused(Code.NO_SUCH_GAME, NO_SUCH_GAME)
    return game_id


def find_match(service: GameService, sid: str, payload: Any) -> dict:
    obj = as_object(payload, FIND_MATCH_SHAPE)
    best_of = parse_best_of(obj.get("best_of"))
    opponent = obj.get("opponent")
    if opponent is not None and opponent != COMPUTER:
        raise Refused(Code.BAD_REQUEST, OPPONENT_REFUSAL, field="opponent")
    round_seconds = optional_whole_number(
        obj, "round_seconds", ROUND_SECONDS_REFUSAL, MIN_ROUND_SECONDS, MAX_ROUND_SECONDS
    )
    service.find_match(sid, best_of, computer=opponent == COMPUTER, round_seconds=round_seconds)
    return OK


def cancel_match(service: GameService, sid: str, _payload: Any) -> dict:
    service.cancel_match(sid)
    return OK


def throw(service: GameService, sid: str, payload: Any) -> dict:
    obj = as_object(payload, THROW_SHAPE)
    game_id = game_id_of(obj)
    service.throw(sid, game_id, string(obj, "move", NOT_A_MOVE))
    return OK


def leave_game(service: GameService, sid: str, payload: Any) -> dict:
    service.leave_game(sid, game_id_of(as_object(payload, GAME_SHAPE)))
    return OK


def challenge(service: GameService, sid: str, payload: Any) -> dict:
    obj = as_object(payload, CHALLENGE_SHAPE)
    to = obj.get("to")
    if not isinstance(to, str) or not to.strip():
        raise Refused(Code.BAD_REQUEST, f"Send an object like {CHALLENGE_SHAPE}.", field="to")
    best_of = parse_best_of(obj.get("best_of"))
    return {"ok": True, "challenge_id": service.challenge(sid, to, best_of)}


def answer_challenge(service: GameService, sid: str, payload: Any) -> dict:
    obj = as_object(payload, ANSWER_SHAPE)
    challenge_id, accept = obj.get("challenge_id"), obj.get("accept")
    if not isinstance(accept, bool):
        raise Refused(Code.BAD_REQUEST, ACCEPT_IS_BOOL, field="accept")
    if not isinstance(challenge_id, str):  # no challenge has such an id
        raise Refused(Code.NO_SUCH_CHALLENGE, NO_SUCH_CHALLENGE)
    service.answer_challenge(sid, challenge_id, accept)
    return OK


def rematch(service: GameService, sid: str, payload: Any) -> dict:
    service.rematch(sid, game_id_of(as_object(payload, GAME_SHAPE)))
    return OK


def games(service: GameService, sid: str, _payload: Any) -> dict:
    page = service.games(sid)
    return {"ok": True, "games": page.games, "has_more": page.has_more}


def watch(service: GameService, sid: str, payload: Any) -> dict:
    view = service.watch(sid, game_id_of(as_object(payload, GAME_SHAPE)))
    return {"ok": True, "game": view}


# The stored events: checked now, answered by the slow part (handlers.declare_stored).


def check_game_chat(service: GameService, sid: str, payload: Any) -> Callable[[], dict]:
    obj = as_object(payload, GAME_CHAT_SHAPE)
    game_id = game_id_of(obj)
    msg = string(obj, "msg", NOT_A_MESSAGE)
    client_id = optional_string(obj, "client_id", CLIENT_ID_REFUSAL)
    store = service.check_game_chat(sid, game_id, msg, client_id)

    def answer() -> dict:
        posted = store()
        ack = {"ok": True, "id": posted.id, "ts": posted.ts}
        if posted.duplicate:
            ack["duplicate"] = True
        return ack

    return answer


def check_leaderboard(service: GameService, sid: str, _payload: Any) -> Callable[[], dict]:
    read = service.check_leaderboard(sid)

    def answer() -> dict:
        board = read()
        return {"ok": True, "players": board.players, "provisional": board.provisional}

    return answer


def check_my_games(service: GameService, sid: str, payload: Any) -> Callable[[], dict]:
    obj = {} if payload is None else as_object(payload, MY_GAMES_SHAPE)  # none: the first page
    before = optional_whole_number(obj, "before", BEFORE_REFUSAL)
    limit = optional_whole_number(obj, "limit", LIMIT_REFUSAL)
    read = service.check_my_games(sid, before, limit)

    def answer() -> dict:
        page = read()
        return {"ok": True, "games": page.games, "has_more": page.has_more}

    return answer
