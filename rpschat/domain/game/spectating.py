"""The audience of games: the list of live games, watching one, and each game's chat (its
players and spectators)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rpschat.domain.chat import Connection
from rpschat.domain.errors import Refused
from rpschat.domain.game.context import GameContext, game_room
from rpschat.domain.game.lifecycle import GAME_SHAPE
from rpschat.domain.game.match import Match
from rpschat.domain.payload import as_object
from rpschat.domain.ports import StoredMessage
from rpschat.domain.text import clean_client_id, clean_message

GAME_IS_OVER = "This game is over."
MEMBERS_ONLY_CHAT = "Only this game's players and spectators can chat in it."
GAME_CHAT_SHAPE = '{game_id: "g7Hk", msg: "gg"}'


class Spectating:
    def __init__(self, ctx: GameContext) -> None:
        self._ctx = ctx

    def games(self, sid: str, payload: Any) -> dict:
        """The live games (no lock: a snapshot)."""
        ctx = self._ctx
        ctx.limit(ctx.caller(sid), "other")
        live = [
            {
                "game_id": m.game_id,
                "players": list(m.players),
                "best_of": m.best_of,
                "round": m.round,
                "score": dict(m.score),
            }
            for m in ctx.store.live_games()
        ]
        live, cut = ctx.chat.fit_answer(live, keep_newest=False)  # docs: "Answer sizes"
        return {"ok": True, "games": live, "has_more": cut}

    def watch(self, sid: str, payload: Any) -> dict:
        ctx = self._ctx
        conn = ctx.caller(sid)
        game_id = as_object(payload, GAME_SHAPE).get("game_id")
        with ctx.game_lock(game_id):  # not watching a game that is ending right now
            match = ctx.match(game_id)
            ctx.limit(conn, "other")
            if match.is_over:
                raise Refused(GAME_IS_OVER)
            if conn.name not in match.players:
                ctx.spectators.add(match.game_id, conn.user_id)
            ctx.outbox.join(sid, game_room(match.game_id))
            return {"ok": True, "game": ctx.view(match)}

    # ---- game chat (split: validate now, store in the slow part) ------------------------------

    def check_game_chat(self, sid: str, payload: Any) -> Callable[[], dict]:
        ctx = self._ctx
        conn = ctx.caller(sid)
        payload = as_object(payload, GAME_CHAT_SHAPE)
        match = ctx.match(payload.get("game_id"))
        if not self._may_chat(match, conn):
            raise Refused(MEMBERS_ONLY_CHAT)
        text = clean_message(payload.get("msg"), ctx.chat.limits.max_message_chars)
        client_id = clean_client_id(payload.get("client_id"))
        ctx.limit(conn, "chat")
        return lambda: self._store_game_message(match.game_id, conn, text, client_id)

    def _may_chat(self, match: Match, conn: Connection) -> bool:
        return match.is_member(conn.name, conn.user_id) or self._ctx.spectators.is_watching(
            match.game_id, conn.user_id
        )

    def _store_game_message(
        self, game_id: str, conn: Connection, text: str, client_id: str | None
    ) -> dict:
        room = game_room(game_id)
        outbox = self._ctx.outbox

        def broadcast(message: StoredMessage) -> None:
            outbox.emit("game_message", {"game_id": game_id, **message.to_wire()}, to=room)

        message, duplicate = self._ctx.history.append(
            room, conn.user_id, conn.name, text, client_id=client_id, on_commit=broadcast
        )
        ack = {"ok": True, "id": message.id, "ts": message.ts}
        if duplicate:
            ack["duplicate"] = True
        return ack
