"""The game side of the protocol: matchmaking, challenges, rounds, spectators, game chat, results.

Plain Python, like the chat's services: clients are reached through the `Outbox`, time and
timers through the `Runtime`, so the service runs under eventlet, on plain threads (the test
client) or in tests.

`GameService` is the one object the web layer and the chat's presence hub see; the work is done
by its parts, beside it in rpschat/domain/game/:
- `lifecycle.py`: a match from start to end, its round timers, the results, releasing it;
- `pairing.py`: the queue, challenges and rematches (who plays whom);
- `spectating.py`: the list of live games, watching, the game chat;
- `presence.py`: reactions to users dropping, resuming and leaving; `busy.py` whether a user
  is in a game, looking for one or in a challenge (naming asks);
- `computer.py`: the computer opponent's strategy;
- `records.py`: each player's finished games (`my_games`, the computer's memory);
- `matchmaking.py`: the rules of the queue, challenges and rematches;
- `standings.py`: wins, losses, draws and Elo ratings (kept by the results stores);
- `context.py`: what they share (settings, stores, the locks and their order); `locks.py` the
  locks by key;
- `ports.py`: the stores the game needs (`GameStores`): in storage/memory/ in this process,
  storage/redis/ shared by every node, storage/sql/ for results and finished games.

Rooms: every game is the room `game:<game_id>` (its players and spectators): `round_started`,
`round_result`, `game_over` and `game_message` go there. Events for one person (`match_found`,
`opponent_threw`, `challenged`, ...) go to their user room, which follows them across reconnects.

Players are their user ids in `Match`, its snapshot and its round results (a rename or a
look-alike never touches a game); the match keeps the name each played under, and the wire shows
names. The queue, challenges, drops and the stores' "live game of a player" index are by display
name (naming refuses renames while `busy.py` says the user is busy).

Concurrency: a lock per game, and one short lobby lock for pairing (game/context.py). Nothing
slow runs under a lock under eventlet: game chat storage and leaderboard reads are the slow
halves of split handlers, and results are recorded in a deferred task. With REDIS_URL the stores
and the locks are shared by every node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.computer import Strategy
from rpschat.domain.game.context import (
    GameContext,
    GameSettings,
    GamesPage,
    GameView,
    check_game_id,
    game_room,
    new_game_id,
)
from rpschat.domain.game.lifecycle import MatchLifecycle
from rpschat.domain.game.matchmaking import ALREADY_IN_GAME, Challenges, Matchmaker, Rematches
from rpschat.domain.game.pairing import Pairing
from rpschat.domain.game.ports import GameStores, Leaderboard
from rpschat.domain.game.presence import PresenceReactions
from rpschat.domain.game.records import GameRecords
from rpschat.domain.game.routing import Adoption, GameRouting
from rpschat.domain.game.spectating import PostedMessage, Spectating
from rpschat.domain.ports import (
    AccountStore,
    Callers,
    Directory,
    HistoryStore,
    Ignores,
    Limits,
    Outbox,
    Posting,
    Runtime,
)

log = logging.getLogger("rpschat.games")

__all__ = [
    "GameService",
    "GameSettings",
    "GameView",
    "GamesPage",
    "PostedMessage",
    "game_room",
]


class GameService:
    def __init__(
        self,
        callers: Callers,
        limits: Limits,
        posting: Posting,
        ignores: Ignores,
        directory: Directory,
        accounts: AccountStore | None,
        outbox: Outbox,
        runtime: Runtime,
        history: HistoryStore,
        stores: GameStores,
        settings: GameSettings | None = None,
        make_game_id: Callable[[], str] = new_game_id,
        strategy: Strategy | None = None,  # the computer opponent's
    ) -> None:
        ctx = self._ctx = GameContext(
            callers=callers,
            limits=limits,
            posting=posting,
            ignores=ignores,
            directory=directory,
            accounts=accounts,
            outbox=outbox,
            runtime=runtime,
            history=history,
            stores=stores,
            settings=settings or GameSettings(),
            strategy=strategy or Strategy(),
        )
        rematches = Rematches(stores.rematches)
        self._lifecycle = MatchLifecycle(ctx, rematches, make_game_id)
        self._records = GameRecords(ctx)
        self._pairing = Pairing(
            ctx,
            self._lifecycle,
            Matchmaker(stores.queue, is_busy=ctx.in_live_game),
            Challenges(stores.challenges, is_busy=ctx.in_live_game),
            stores.challenges,
            stores.expired_challenges,
            rematches,
            self._records,
            seeks=stores.seeks,
        )
        self._spectating = Spectating(ctx)
        self._adoption = Adoption(ctx, self._lifecycle)
        routing = self._routing = GameRouting(ctx, stores.link, self._adoption.adopt)
        routing.register("throw", self._throw_here)
        routing.register("leave", self._leave_here)
        routing.register("rematch", self._rematch_here)
        routing.register("gone", self._gone_here)
        routing.register("watch", self._watch_here)
        routing.register("state", self._state_here)
        self._presence = PresenceReactions(
            ctx, self._lifecycle, self._pairing, self._records, routing
        )

    # ---- client events: the caller's sid and typed arguments (web/game_events.py reads them) --

    def find_match(
        self, sid: str, best_of: int, computer: bool = False, round_seconds: float | None = None
    ) -> None:
        self._pairing.find_match(sid, best_of, computer, round_seconds)

    def cancel_match(self, sid: str) -> None:
        self._pairing.cancel_match(sid)

    def throw(self, sid: str, game_id: str, move: str) -> None:
        conn = self._ctx.caller(sid)
        check_game_id(game_id)
        self._routing.run("throw", game_id, {"conn": conn, "move": move})

    def leave_game(self, sid: str, game_id: str) -> None:
        conn = self._ctx.caller(sid)
        check_game_id(game_id)
        self._routing.run("leave", game_id, {"conn": conn})

    def challenge(self, sid: str, to: str, best_of: int) -> str:
        """A challenge to the user named `to`; its id."""
        return self._pairing.challenge(sid, to, best_of)

    def answer_challenge(self, sid: str, challenge_id: str, accept: bool) -> None:
        self._pairing.answer_challenge(sid, challenge_id, accept)

    # ---- for invites (game/invites.py) -------------------------------------------------------

    def start_invited(self, inviter: str, guest: str, best_of: int) -> None:
        """A match between the inviter and the guest who took the invite, at once (both get
        `match_found`); refused if either is in a game (the queue lets them go)."""
        ctx = self._ctx
        with ctx.lobby():
            if ctx.in_live_game(guest):
                raise Refused(Code.IN_GAME, ALREADY_IN_GAME)
            created = self._pairing.start(inviter, guest, best_of)
        self._pairing.announce(*created)

    def is_playing(self, name: str) -> bool:
        return self._ctx.in_live_game(name)

    def is_online(self, name: str) -> bool:
        return self._ctx.directory.user_of(name) is not None

    def start_arena_game(self, first: str, second: str, best_of: int) -> str | None:
        """An arena's pairing (game/arenas.py): a match between the two names at once, its
        game id; None if either is in a game or the queue took one meanwhile."""
        ctx = self._ctx
        with ctx.lobby():
            if ctx.in_live_game(first) or ctx.in_live_game(second):
                return None
            try:
                match, away = self._pairing.start(first, second, best_of)
            except Refused:
                return None
        self._pairing.announce(match, away)
        return match.game_id

    def rematch(self, sid: str, game_id: str) -> None:
        conn = self._ctx.caller(sid)
        check_game_id(game_id)
        self._routing.run("rematch", game_id, {"conn": conn})

    # ---- on the game's owner (routing.py): forwarded here, or this node's own game ----------

    def _throw_here(self, payload: dict[str, Any]) -> None:
        self._lifecycle.throw(payload["conn"], payload["game_id"], payload["move"])

    def _leave_here(self, payload: dict[str, Any]) -> None:
        self._lifecycle.leave_game(payload["conn"], payload["game_id"])

    def _rematch_here(self, payload: dict[str, Any]) -> None:
        self._pairing.rematch(payload["conn"], payload["game_id"])

    def _watch_here(self, payload: dict[str, Any]) -> GameView:
        return self._spectating.watch(payload["conn"], payload["game_id"])

    def _state_here(self, payload: dict[str, Any]) -> None:
        self._presence.send_game_state(
            payload["game_id"], payload["user_id"], payload["sid"], payload["was_dropped"]
        )

    def _gone_here(self, payload: dict[str, Any]) -> None:
        self._lifecycle.forfeit_gone(payload["game_id"], payload["user_id"])

    def games(self, sid: str) -> GamesPage:
        return self._spectating.games(sid)

    def watch(self, sid: str, game_id: str) -> GameView:
        """The game's view, as `game_state` has it (docs/protocol.md, `watch`): its owner's."""
        conn = self._ctx.caller(sid)
        check_game_id(game_id)
        view: GameView = self._routing.run("watch", game_id, {"conn": conn})
        return view

    # Checked now, in arrival order; the slow part they return is run after (store, read).

    def check_game_chat(
        self, sid: str, game_id: str, msg: str, client_id: str | None
    ) -> Callable[[], PostedMessage]:
        return self._spectating.check_game_chat(sid, game_id, msg, client_id)

    def check_leaderboard(self, sid: str) -> Callable[[], Leaderboard]:
        ctx = self._ctx
        ctx.limit(ctx.caller(sid), "other")
        return self._lifecycle.leaderboard

    def check_my_games(
        self, sid: str, before: int | None, limit: int | None
    ) -> Callable[[], GamesPage]:
        return self._records.check_my_games(sid, before, limit)

    # ---- presence (a PresenceListener of the hub, domain/presence.py) -----------------------

    def user_dropped(self, user_id: str, name: str) -> None:
        self._presence.user_dropped(user_id, name)

    def user_back(self, user_id: str, name: str, sid: str, last_id: int | None) -> None:
        self._presence.user_back(user_id, name, sid, last_id)

    def user_gone(self, user_id: str, name: str, removed: bool) -> None:
        self._presence.user_gone(user_id, name)

    def account_released(self, user_id: str, name: str) -> None:
        """A released account's standing leaves the leaderboard (an AccountEnd of
        ClaimedNames): the user plays on as a guest from 1500, and whoever claims the name
        next starts afresh."""
        try:
            self._ctx.results.forget_guest(name, user_id)
        except Exception:  # the row is then started afresh by the next user who plays as it
            log.exception("forgetting a released account's standing failed")

    # ---- for the cluster keeper and the metrics ---------------------------------------------

    def settle_overdue(self, cutoff: float) -> None:
        """Settle rounds and challenges whose deadline passed before `cutoff`: the backstop for
        the timers of a node that died (the cluster keeper calls it; idempotent)."""
        self._lifecycle.settle_overdue(cutoff)
        self._pairing.settle_overdue(cutoff)

    def adopt_games(self, node: str, game_id: str | None = None) -> int:
        """The games of a dead node (or one of them) are this node's now (lifecycle.py)."""
        return self._adoption.adopt(node, game_id)

    def live_count(self) -> int:
        """Games being played (with shared stores: in the whole cluster)."""
        return self._ctx.store.live_count()
