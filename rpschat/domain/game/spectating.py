"""The audience of games: the list of live games, watching one, and each game's chat (its
players and spectators)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.context import GameContext, GamesPage, GameView, game_room
from rpschat.domain.game.match import Match
from rpschat.domain.ports import NamedConnection, StoredMessage
from rpschat.domain.text import clean_client_id, clean_message

GAME_IS_OVER = "This game is over."
MEMBERS_ONLY_CHAT = "Only this game's players and spectators can chat in it."


@dataclass(frozen=True)
class PostedMessage:
    """A game chat message stored (or, `duplicate`, stored before under its client_id)."""

    id: int
    ts: int  # ms since the Unix epoch
    duplicate: bool


class Spectating:
    def __init__(self, ctx: GameContext) -> None:
        self._ctx = ctx

    def games(self, sid: str) -> GamesPage:
        """The live games (no lock: a snapshot)."""
        ctx = self._ctx
        ctx.limit(ctx.caller(sid), "other")
        live = [
            {
                "game_id": m.game_id,
                "players": [m.name_of(player) for player in m.players],
                "best_of": m.best_of,
                "round": m.round,
                "score": {m.name_of(player): score for player, score in m.score.items()},
            }
            for m in ctx.store.live_games()
        ]
        live, cut = ctx.fit(live, keep_newest=False)  # docs: "Answer sizes"
        return GamesPage(live, cut)

    def watch(self, conn: NamedConnection, game_id: str) -> GameView:
        """Watch a live game: its view (`GameContext.view`, as `game_state` has it). On the
        game's owner (routing.py)."""
        ctx = self._ctx
        sid = conn.sid
        with ctx.game_lock(game_id):  # not watching a game that is ending right now
            match = ctx.owned_match(game_id)
            ctx.limit(conn, "other")
            if match.is_over:
                raise Refused(Code.GAME_OVER, GAME_IS_OVER)
            if conn.user_id not in match.players:
                ctx.spectators.add(match.game_id, conn.user_id)
            ctx.outbox.join(sid, game_room(match.game_id))
            return ctx.view(match)

    # ---- game chat (split: validate now, store in the slow part) ------------------------------

    def check_game_chat(
        self, sid: str, game_id: str, msg: str, client_id: str | None
    ) -> Callable[[], PostedMessage]:
        ctx = self._ctx
        conn = ctx.caller(sid)
        match = ctx.match(game_id)
        if not self._may_chat(match, conn):
            raise Refused(Code.NOT_IN_GAME, MEMBERS_ONLY_CHAT)
        text = clean_message(msg, ctx.settings.max_message_chars)
        client_id = clean_client_id(client_id)
        ctx.posting.check_can_post(conn)
        ctx.limit(conn, "chat")
        return lambda: self._store_game_message(match.game_id, conn, text, client_id)

    def _may_chat(self, match: Match, conn: NamedConnection) -> bool:
        return match.is_member(conn.user_id) or self._ctx.spectators.is_watching(
            match.game_id, conn.user_id
        )

    def _store_game_message(
        self, game_id: str, conn: NamedConnection, text: str, client_id: str | None
    ) -> PostedMessage:
        room = game_room(game_id)
        outbox = self._ctx.outbox

        def broadcast(message: StoredMessage) -> None:
            outbox.emit("game_message", {"game_id": game_id, **message.to_wire()}, to=room)

        message, duplicate = self._ctx.history.append(
            room, conn.user_id, conn.name, text, client_id=client_id, on_commit=broadcast
        )
        return PostedMessage(message.id, message.ts, duplicate)
