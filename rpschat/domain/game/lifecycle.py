"""A match from start to end: rounds and their timers, throws, leaving, the end (its results:
records.py's `Scorekeeper`), and releasing the game once it has been over for
`finished_game_seconds`.

`MatchLifecycle.finish` is the one place where a game ends, whatever the reason.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.computer import COMPUTER, rounds_of
from rpschat.domain.game.context import (
    GameContext,
    game_room,
    log,
    ms,
    new_game_id,
)
from rpschat.domain.game.fairness import commitment, new_salt
from rpschat.domain.game.match import GameOver, Match, ThrowOutcome
from rpschat.domain.game.matchmaking import Rematches
from rpschat.domain.game.ports import Leaderboard
from rpschat.domain.game.records import Scorekeeper
from rpschat.domain.ports import Cancellable, NamedConnection

NOT_IN_THIS_GAME = "You are not in this game."
SWEEP_EVERY = 1.0  # seconds at least between two sweeps of finished games


class MatchLifecycle:
    def __init__(
        self,
        ctx: GameContext,
        rematches: Rematches,
        make_game_id: Callable[[], str] = new_game_id,
    ) -> None:
        self._ctx = ctx
        self._rematches = rematches
        self._make_game_id = make_game_id
        # This node's round timers, one per live game: cancelled when their round ends.
        self._round_timers: dict[str, Cancellable] = {}
        # Games finished on this node -> when: their rooms and side state go after
        # `finished_game_seconds` (one sweep timer for all of them).
        self._ended_at: OrderedDict[str, float] = OrderedDict()
        self._sweep: Cancellable | None = None
        self._sweep_guard = threading.Lock()
        self._scorekeeper = Scorekeeper(ctx)

    # ---- client events -----------------------------------------------------------------------

    def throw(self, conn: NamedConnection, game_id: str, move: str) -> None:
        """`move` as sent: the match normalises it, once the throw is otherwise allowed. On the
        game's owner (routing.py)."""
        ctx = self._ctx
        with ctx.game_lock(game_id):
            match = ctx.owned_match(game_id)
            ctx.limit(conn, "other")
            now = ctx.runtime.now()
            try:
                outcome = match.throw(conn.user_id, move, now)
            except Refused as refused:
                if refused.code is Code.TIME_IS_UP:  # the round timer is late: settle it now
                    self._settle_overdue_round(match, now)
                raise
            ctx.store.put(match)
            if outcome.round_completed or outcome.game_over:
                self._apply(match, outcome)
            else:  # only that the opponent threw: the move stays secret until the round ends
                opponent = match.opponent_of(conn.user_id)
                ctx.emit_to_user(opponent, "opponent_threw", {"game_id": match.game_id})

    def leave_game(self, conn: NamedConnection, game_id: str) -> None:
        """On the game's owner (routing.py)."""
        ctx = self._ctx
        sid = conn.sid
        with ctx.game_lock(game_id):
            match = ctx.owned_match(game_id)
            ctx.limit(conn, "other")
            if match.is_member(conn.user_id):
                self._player_leaves(match, conn, sid)
            elif ctx.spectators.discard(match.game_id, conn.user_id):
                ctx.outbox.leave(sid, game_room(match.game_id))
            else:
                raise Refused(Code.NOT_IN_GAME, NOT_IN_THIS_GAME)

    def forfeit_gone(self, game_id: str, user_id: str) -> None:
        """The player `user_id` is gone for good: their live game is lost ('disconnect'). On the
        game's owner (routing.py)."""
        with self._ctx.lock_game(game_id):
            match = self._ctx.store.owned(game_id)
            if match is not None and not match.is_over and user_id in match.players:
                over = match.forfeit(user_id, "disconnect")
                self._ctx.store.put(match)
                self.finish(match, over)

    def _player_leaves(self, match: Match, conn: NamedConnection, sid: str) -> None:
        match.left.append(conn.user_id)
        self._ctx.outbox.leave(sid, game_room(match.game_id))
        if match.is_over:
            self._ctx.store.put(match)
            return
        over = match.forfeit(conn.user_id, "forfeit")
        self._ctx.store.put(match)
        self.finish(match, over, also_to=sid)  # out of the room, still told how it ended

    def leaderboard(self) -> Leaderboard:
        """The slow half of `leaderboard`: a database read, outside every lock."""
        return self._ctx.results.leaderboard(self._ctx.settings.leaderboard_size)

    # ---- starting ----------------------------------------------------------------------------

    def create(
        self,
        player_a: str,
        player_b: str,
        best_of: int,
        computer_memory: list[list[str]] | None = None,
        round_seconds: float | None = None,
    ) -> Match | None:
        """Store a new match, unless one of its players is in a live game by now (the store
        checks and claims atomically: pairing from the queue holds no lock). Nobody hears of it
        until `announce`, which the caller runs once it holds no lobby lock. With
        `computer_memory` (the player's earlier rounds), `player_b` is the computer. Players are
        named here, and known by user id in the match."""
        ctx = self._ctx
        computer = computer_memory is not None
        if computer:
            player_b = COMPUTER
        humans = (player_a,) if computer else (player_a, player_b)
        ids = {name: ctx.user_id_of(name) or name for name in humans}
        if computer:
            ids[COMPUTER] = COMPUTER  # no user id has capitals (domain/identity.py)
        match = Match.start(
            self._make_game_id(),
            ids[player_a],
            ids[player_b],
            best_of,
            ctx.runtime.now(),
            round_seconds or ctx.settings.round_seconds,  # a player's own: the computer's only
            names={user_id: name for name, user_id in ids.items()},
        )
        if computer_memory is not None:
            match.computer = True
            match.computer_memory = [list(entry) for entry in computer_memory]
        return match if ctx.store.create(match) else None

    def announce(self, created: Match, away: dict[str, float] | None = None) -> None:
        """The players join the game's room and hear of it, and its first round starts.
        `away`: players matched while their connection is lost -> the grace left, for their
        opponent."""
        ctx = self._ctx
        with ctx.lock_game(created.game_id):
            match = ctx.store.get(created.game_id) or created
            room = game_room(match.game_id)
            for player in match.humans():
                # every device of the user (a claimed name logged in twice) plays along
                for sid in ctx.directory.connections_of(player):
                    ctx.outbox.join(sid, room)
            names = [match.name_of(player) for player in match.players]
            for player in match.humans():
                found = {
                    "game_id": match.game_id,
                    "opponent": match.name_of(match.opponent_of(player)),
                    "best_of": match.best_of,
                    "players": names,
                    "round_seconds": match.round_seconds,
                }
                if match.computer:
                    found["computer"] = True
                ctx.emit_to_user(player, "match_found", found)
            log.debug("game %s: %s vs %s, best of %d", match.game_id, *match.players, match.best_of)
            if match.is_over:  # ended before it was announced (a player left for good)
                return
            self.start_round(match)
            for player, grace in (away or {}).items():
                self.tell_opponent_away(match, player, grace)

    def tell_opponent_away(self, match: Match, player: str, grace_seconds: float) -> None:
        """`player`: a user id."""
        status = {"game_id": match.game_id, "name": match.name_of(player), "connected": False}
        status["grace_ms"] = ms(max(0.0, grace_seconds))
        self._ctx.emit_to_user(match.opponent_of(player), "opponent_status", status)

    # ---- rounds ------------------------------------------------------------------------------

    def start_round(self, match: Match, restarted: bool = False) -> None:
        if match.computer:
            self._computer_throws(match)
        now = self._ctx.runtime.now()
        started: dict[str, object] = {
            "game_id": match.game_id,
            "round": match.round,
            "time_left_ms": ms(match.time_left(now)),
        }
        if restarted:
            started["restarted"] = True
        if match.commit:
            started["commit"] = match.commit
        self._ctx.outbox.emit("round_started", started, to=game_room(match.game_id))
        self._set_round_timer(match, now)

    def _computer_throws(self, match: Match) -> None:
        """The computer's move for the round now starting, decided and stored before anyone
        is told the round started: from the player's earlier rounds and this game's, never
        from a move of this round (nobody has thrown one yet)."""
        human = match.players[0]
        past = [(move, outcome) for move, outcome in match.computer_memory]
        past += rounds_of(human, [result.to_dict() for result in match.history])  # by user id
        move = match.moves[COMPUTER] = self._ctx.strategy.choose(past)
        match.salt = new_salt()  # committed to in round_started, revealed in round_result
        match.commit = commitment(move, match.salt)
        self._ctx.store.put(match)

    def _set_round_timer(self, match: Match, now: float) -> None:
        """One timer per live game on the node that started its round; the previous round's
        is cancelled, so a round settled early holds nothing until its deadline."""
        self._cancel_round_timer(match.game_id)
        if match.round_deadline is not None:
            self._round_timers[match.game_id] = self._ctx.runtime.call_later(
                match.round_deadline - now, self._round_timer, match.game_id, match.round
            )

    def _cancel_round_timer(self, game_id: str) -> None:
        timer = self._round_timers.pop(game_id, None)
        if timer is not None:
            timer.cancel()

    def _round_timer(self, game_id: str, round_number: int) -> None:
        self._ctx.guarded(self.expire_round, game_id, round_number)

    def expire_round(self, game_id: str, round_number: int) -> None:
        ctx = self._ctx
        with ctx.game_lock(game_id):
            match = ctx.store.owned(game_id)
            if match is None or match.is_over or match.round != round_number:
                return  # a stale timer: the round was settled elsewhere (a throw, a node)
            now = ctx.runtime.now()
            if match.time_left(now) > 0:  # fired early (the clock went back): wait again
                self._set_round_timer(match, now)
                return
            self._round_timers.pop(game_id, None)
            self._settle_overdue_round(match, now)

    def settle_overdue(self, cutoff: float) -> None:
        """Settle this node's rounds whose deadline passed before `cutoff`: the backstop for
        timers that did not fire (idempotent)."""
        for game_id, round_number in self._ctx.store.overdue(cutoff):
            self._ctx.guarded(self.expire_round, game_id, round_number)

    def _settle_overdue_round(self, match: Match, now: float) -> None:
        outcome = match.expire_round(now)
        if outcome is not None:
            self._ctx.store.put(match)
            self._apply(match, outcome)

    def _apply(self, match: Match, outcome: ThrowOutcome) -> None:
        """Tell the room what a throw or a timeout settled, then start the next round or end."""
        if outcome.round_result is not None:
            result = match.wire_round(outcome.round_result)
            self._ctx.outbox.emit("round_result", result, to=game_room(match.game_id))
        if outcome.game_over is not None:
            self.finish(match, outcome.game_over)
        elif outcome.round_completed:
            self.start_round(match)

    # ---- the end -----------------------------------------------------------------------------

    def finish(self, match: Match, over: GameOver, also_to: str | None = None) -> None:
        """The one place where a game ends (won, timeout, forfeit, disconnect, abandoned). The
        caller holds the game's lock and has stored the finished match."""
        log.debug("game %s over: %s (%s)", match.game_id, over.winner, over.reason)
        self._cancel_round_timer(match.game_id)
        now = self._ctx.runtime.now()
        with self._sweep_guard:
            self._ended_at[match.game_id] = now
        self._schedule_sweep(now)
        self._scorekeeper.record_then_announce(match, over, also_to)

    # ---- releasing finished games ------------------------------------------------------------

    def _schedule_sweep(self, now: float) -> None:
        with self._sweep_guard:
            if self._sweep is not None or not self._ended_at:
                return
            oldest = next(iter(self._ended_at.values()))
            wait = max(SWEEP_EVERY, oldest + self._ctx.settings.finished_game_seconds - now)
            self._sweep = self._ctx.runtime.call_later(wait, self._ctx.guarded, self._sweep_now)

    def _sweep_now(self) -> None:
        """Forget the games that finished `finished_game_seconds` ago, then wait for the next."""
        now = self._ctx.runtime.now()
        cutoff = now - self._ctx.settings.finished_game_seconds
        with self._sweep_guard:
            self._sweep = None
            due = list(itertools.takewhile(lambda item: item[1] <= cutoff, self._ended_at.items()))
        for game_id, _ in due:
            with self._ctx.lock_game(game_id):
                self.forget(game_id)
        self._schedule_sweep(now)

    def forget(self, game_id: str) -> None:
        """Release a finished game: its match, rematch requests, spectators and room. The
        caller holds the game's lock."""
        ctx = self._ctx
        with self._sweep_guard:
            self._ended_at.pop(game_id, None)
        match = ctx.store.owned(game_id)
        ctx.store.delete(game_id)
        self._rematches.forget(game_id)
        spectators = ctx.spectators.drop_game(game_id)
        for user_id in [*(match.humans() if match else ()), *spectators]:
            for sid in ctx.directory.connections_of(user_id):
                ctx.outbox.leave(sid, game_room(game_id))
