"""The matchmaking stores (game/ports.py) in this process: the queue, challenges, rematches.
Their Redis twins, shared by every node, are in storage/redis/matchmaking.py."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from rpschat.domain.game.ports import Challenge


class MemoryQueueStore:
    def __init__(self) -> None:
        self._queues: dict[int, deque[str]] = {}
        self._best_of_by_player: dict[str, int] = {}
        self._lock = threading.RLock()  # pairing takes no other lock (see `pair`)

    def pair(
        self, player: str, best_of: int, is_busy: Callable[[str], bool]
    ) -> tuple[str, str | None]:
        with self._lock:
            if is_busy(player):
                return "busy", None
            if player in self._best_of_by_player:
                return "queued", None
            # A waiting player may have entered a game since (e.g. accepted a challenge).
            while (partner := self.pop_oldest(best_of)) is not None:
                if not is_busy(partner):
                    return "paired", partner
            self.append(player, best_of)
            return "waiting", None

    def append(self, player: str, best_of: int) -> None:
        with self._lock:
            self._queues.setdefault(best_of, deque()).append(player)
            self._best_of_by_player[player] = best_of

    def pop_oldest(self, best_of: int) -> str | None:
        with self._lock:
            queue = self._queues.get(best_of)
            if not queue:
                return None
            player = queue.popleft()
            del self._best_of_by_player[player]
            return player

    def discard(self, player: str) -> bool:
        with self._lock:
            best_of = self._best_of_by_player.pop(player, None)
            if best_of is None:
                return False
            self._queues[best_of].remove(player)
            return True

    def best_of_for(self, player: str) -> int | None:
        return self._best_of_by_player.get(player)

    def waiting(self, best_of: int) -> list[str]:
        return list(self._queues.get(best_of, ()))

    def count(self) -> int:
        return len(self._best_of_by_player)


class MemoryChallengeStore:
    def __init__(self) -> None:
        self._by_id: dict[str, Challenge] = {}

    def save(self, challenge: Challenge) -> None:
        self._by_id[challenge.challenge_id] = challenge

    def get(self, challenge_id: str) -> Challenge | None:
        return self._by_id.get(challenge_id)

    def delete(self, challenge_id: str) -> Challenge | None:
        return self._by_id.pop(challenge_id, None)

    def all(self) -> list[Challenge]:
        return list(self._by_id.values())


class MemoryRematchStore:
    def __init__(self) -> None:
        self._requesters: dict[str, set[str]] = {}
        self._players: dict[str, frozenset[str]] = {}
        self._games_by_player: dict[str, set[str]] = {}  # so a player leaving costs their games

    def add_request(self, game_id: str, player: str, players: frozenset[str]) -> frozenset[str]:
        self._players[game_id] = players
        for name in players:
            self._games_by_player.setdefault(name, set()).add(game_id)
        requesters = self._requesters.setdefault(game_id, set())
        requesters.add(player)
        return frozenset(requesters)

    def requests(self, game_id: str) -> frozenset[str]:
        return frozenset(self._requesters.get(game_id, ()))

    def clear(self, game_id: str) -> None:
        self._requesters.pop(game_id, None)
        for name in self._players.pop(game_id, ()):
            games = self._games_by_player.get(name)
            if games is not None:
                games.discard(game_id)
                if not games:
                    del self._games_by_player[name]

    def games_involving(self, player: str) -> list[str]:
        return sorted(self._games_by_player.get(player, ()))
