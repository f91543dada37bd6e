"""Each player's finished games: what is kept of a game once it ends (its result for the
standings, a `GameRecord` per player), the `my_games` pages, and what the computer remembers of
a player from them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.computer import MEMORY_ROUNDS, rounds_of
from rpschat.domain.game.context import GameContext, GamesPage, game_room, log
from rpschat.domain.game.match import GameOver, GameResult, Match
from rpschat.domain.game.ports import GameRecord

MAX_GAMES_PAGE = 50
DEFAULT_GAMES_PAGE = 20
LIMIT_REFUSAL = f"limit must be a whole number from 1 to {MAX_GAMES_PAGE}."
# Earlier games read for the computer's memory of a player (their rounds, up to MEMORY_ROUNDS)
MEMORY_GAMES = 40


def records_of(match: Match, over: GameOver, ended_at: int) -> list[GameRecord]:
    """One record per person who played (the computer keeps none), under their user id; what it
    shows (`my_games`) names the players as they were named in the game."""
    wired = [match.wire_round(result) for result in match.history]
    rounds = [
        {"round": result["round"], "moves": result["moves"], "winner": result["winner"]}
        | ({"commit": result["commit"], "salt": result["salt"]} if "commit" in result else {})
        for result in wired
    ]
    ended = match.wire_over(over)
    return [
        GameRecord(
            game_id=match.game_id,
            user_id=player,
            name=match.name_of(player),
            opponent=match.name_of(match.opponent_of(player)),
            computer=match.computer,
            best_of=match.best_of,
            winner=ended["winner"],
            score=ended["score"],
            rounds=rounds,
            reason=over.reason,
            ended_at=ended_at,
        )
        for player in match.humans()
    ]


class Scorekeeper:
    """Writes each finished game's result and its players' records, then announces
    `game_over`. The write may block (SQL): off the game's lock, in a task of its own under
    eventlet, and batched with the other games that ended meanwhile (one transaction for them
    all)."""

    def __init__(self, ctx: GameContext) -> None:
        self._ctx = ctx
        # Finished games whose result is being written, then announced (in order, batched).
        self._unrecorded: list[tuple[Match, GameOver, str | None]] = []
        self._recording = False
        self._unrecorded_lock = threading.Lock()  # local: guards the two fields above

    def record_then_announce(self, match: Match, over: GameOver, also_to: str | None) -> None:
        """`also_to`: a connection out of the game's room that is told too (a player leaving)."""
        with self._unrecorded_lock:
            self._unrecorded.append((match, over, also_to))
            start_writer = not self._recording
            self._recording = True
        if start_writer:
            self._ctx.runtime.defer(self._record_and_announce)

    def _record_and_announce(self) -> None:
        """Record first, then announce: a game whose `game_over` went out is in the results
        (and a leaderboard asked after `game_over` includes it)."""
        while True:
            with self._unrecorded_lock:
                batch, self._unrecorded = self._unrecorded, []
                if not batch:
                    self._recording = False
                    return
            self._record(batch)
            for match, over, also_to in batch:
                ended = match.wire_over(over)
                self._ctx.outbox.emit("game_over", ended, to=game_room(match.game_id))
                if also_to is not None:
                    self._ctx.outbox.emit("game_over", ended, to=also_to)
                # recorded and announced: a node adopting this one's games leaves it be (until
                # then it would record it again, which the results store ignores, and announce it)
                self._ctx.store.recorded(match.game_id)

    def _record(self, batch: list[tuple[Match, GameOver, str | None]]) -> None:
        # every game is kept for its page (the computer's count for nobody's standing), but
        # aborted ones (left before any round): only in the players' history
        results = [
            self._result(match, over) for match, over, _ in batch if over.reason != "aborted"
        ]
        try:
            if results:
                self._ctx.results.record_many(results)
        except Exception:  # a failed write must not break the game; the log keeps the result
            log.exception("recording games failed: %s", results)
        ended_at = int(self._ctx.runtime.now() * 1000)
        records = [r for match, over, _ in batch for r in records_of(match, over, ended_at)]
        try:
            self._ctx.archive.add_many(records)
        except Exception:
            log.exception("keeping %d games in the players' history failed", len(batch))

    def _result(self, match: Match, over: GameOver) -> GameResult:
        """The standings are by name (and the user behind it), as the leaderboard shows them;
        the game id is the result's key (a game is recorded once)."""
        name = match.name_of
        loser = name(match.opponent_of(over.winner)) if over.winner is not None else None
        directory = self._ctx.directory
        gone = tuple(name(p) for p in match.humans() if directory.name_of(p) is None)
        player_a, player_b = match.players
        return GameResult(
            name(over.winner) if over.winner is not None else None,
            loser,
            (name(player_a), name(player_b)),
            over.reason,
            match.best_of,
            {name(player): score for player, score in over.score.items()},
            match.game_id,
            user_ids={name(player): player for player in match.humans()},
            gone=gone,
            computer=match.computer,
            rounds=tuple(_kept_round(match.wire_round(result)) for result in match.history),
        )


def _kept_round(wired: dict[str, Any]) -> dict[str, Any]:
    """A `round_result` as the game's page replays it (its game id is the game's)."""
    return {key: value for key, value in wired.items() if key != "game_id"}


class GameRecords:
    def __init__(self, ctx: GameContext) -> None:
        self._ctx = ctx

    def check_my_games(
        self, sid: str, before: int | None, limit: int | None
    ) -> Callable[[], GamesPage]:
        """Validate now; the slow part reads the archive (the database). `before`: a record
        id, the page holds older ones."""
        ctx = self._ctx
        conn = ctx.caller(sid)
        limit = DEFAULT_GAMES_PAGE if limit is None else limit
        if not 1 <= limit <= MAX_GAMES_PAGE:
            raise Refused(Code.BAD_REQUEST, LIMIT_REFUSAL, field="limit")
        ctx.limit(conn, "other")
        user_id = conn.user_id
        return lambda: self._page(user_id, before, limit)

    def _page(self, user_id: str, before: int | None, limit: int) -> GamesPage:
        records, has_more = self._ctx.archive.page(user_id, before=before, limit=limit)
        games, cut = self._ctx.fit([r.to_wire() for r in records], keep_newest=False)
        return GamesPage(games, has_more or cut)

    def memory_of(self, user_id: str, name: str) -> list[list[str]]:
        """The player's rounds in their last games, oldest first, for the computer. Read before
        any lock is taken; a failed read leaves the computer with this game's rounds only."""
        try:
            records, _ = self._ctx.archive.page(user_id, limit=MEMORY_GAMES)
        except Exception:
            log.warning("reading %s's earlier games failed: the computer starts afresh", name)
            return []
        rounds = [r for record in reversed(records) for r in rounds_of(record.name, record.rounds)]
        return [list(entry) for entry in rounds[-MEMORY_ROUNDS:]]

    def forget_guest(self, user_id: str) -> None:
        """A guest gone for good: its games go with it (a claimed name's are kept)."""
        ctx = self._ctx
        try:
            accounts = ctx.accounts
            if accounts is not None and accounts.of_user(user_id) is not None:
                return
            ctx.archive.forget_user(user_id)
        except Exception:
            log.exception("forgetting a guest's games failed")
