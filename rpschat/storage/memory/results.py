"""Game results and the leaderboard in this process (the rules: game/standings.py)."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from rpschat.domain.game.match import GameResult
from rpschat.domain.game.ports import Leaderboard, Standing, StoredGame
from rpschat.domain.game.standings import (
    RatedPairs,
    apply_result,
    day_of,
    leaderboard_of,
    player_outcomes,
    public_standing,
    ratings_entry,
    stored_game,
)
from rpschat.domain.ports import AccountStore
from rpschat.domain.text import name_key
from rpschat.storage.common import StorageClosed


class MemoryResults:
    """In-process results for `DATABASE_URL=memory://`. `accounts`: the claimed names; without
    them everyone is a guest."""

    def __init__(
        self, accounts: AccountStore | None = None, rated_per_pair: int | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._standings: dict[str, dict[str, Any]] = {}
        self._games: dict[str, StoredGame] = {}  # game id -> the game, kept for good
        self._arenas: dict[str, dict[str, Any]] = {}  # arena id -> its final record
        self._closed = False
        self.accounts = accounts
        self._pairs = RatedPairs(rated_per_pair)

    def record(
        self,
        winner: str | None,
        loser: str | None,
        players: tuple[str, str],
        reason: str,
        best_of: int,
        score: dict[str, int],
        game_id: str,
        user_ids: dict[str, str] | None = None,
    ) -> bool:
        result = GameResult(
            winner, loser, players, reason, best_of, score, game_id, user_ids=user_ids or {}
        )
        return self.record_many([result])[0]

    def record_many(self, results: list[GameResult]) -> list[bool]:
        claimed = self._claimed({u for r in results for u in r.user_ids.values()})
        with self._lock:
            if self._closed:
                raise StorageClosed()
            return [self._count(result, claimed) for result in results]

    def _claimed(self, user_ids: set[str]) -> set[str]:
        if self.accounts is None:
            return set()
        return {u for u in user_ids if self.accounts.of_user(u) is not None}

    def _count(self, result: GameResult, claimed: set[str]) -> bool:
        player_outcomes(result.winner, result.loser, result.players)
        if result.game_id in self._games:
            return False
        now = int(time.time() * 1000)
        ratings = None
        if not result.computer:  # the computer's games count for nobody's standing
            day = day_of(now)
            self._pairs.forget_before(day)
            rated = self._pairs.allow(result, claimed, day)
            changes = apply_result(self._standings, result, claimed, rated, now)
            ratings = ratings_entry(changes, rated)
        self._games[result.game_id] = stored_game(result, ratings, now)
        return True

    def game(self, game_id: str) -> StoredGame | None:
        with self._lock:
            found = self._games.get(game_id)
            return None if found is None else copy.deepcopy(found)

    def games_of(self, user_id: str, limit: int) -> list[StoredGame]:
        with self._lock:
            mine = [g for g in self._games.values() if user_id in g["user_ids"].values()]
            return copy.deepcopy(mine[::-1][:limit])  # kept in the order they were recorded

    def record_arena(self, arena_id: str, ends_at_ms: int, record: dict[str, Any]) -> None:
        with self._lock:
            if self._closed:
                raise StorageClosed()
            self._arenas.setdefault(arena_id, copy.deepcopy(record))

    def arena(self, arena_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._arenas.get(arena_id)
            return None if found is None else copy.deepcopy(found)

    def forget_guest(self, name: str, user_id: str) -> bool:
        """Removes the guest's row (a user who left for good): nobody inherits it."""
        if self._claimed({user_id}):
            return False
        with self._lock:
            row = self._standings.get(name_key(name))
            if row is None or row["user_id"] != user_id:
                return False
            del self._standings[name_key(name)]
            return True

    def leaderboard(self, limit: int = 50) -> Leaderboard:
        with self._lock:
            if self._closed:
                raise StorageClosed()
            rows = [(key, dict(row)) for key, row in self._standings.items()]
        claimed = self._claimed({row["user_id"] for _, row in rows if row["user_id"]})
        return leaderboard_of(rows, claimed, limit)

    def standing(self, name: str) -> Standing | None:
        with self._lock:
            if self._closed:
                raise StorageClosed()
            row = self._standings.get(name_key(name))
            row = None if row is None else dict(row)
        if row is None:
            return None
        return public_standing(row, bool(row["user_id"] and self._claimed({row["user_id"]})))

    def close(self) -> None:
        with self._lock:
            self._closed = True
