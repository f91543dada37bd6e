"""The game's live state (game/ports.py) kept in this process: matches, spectators, dropped
players, expired challenge ids. Their Redis twins, shared by every node, are in
storage/redis/games.py."""

from __future__ import annotations

import threading
from collections import OrderedDict

from rpschat.domain.game.match import Match
from rpschat.domain.game.ports import Drop
from rpschat.domain.ports import Lock


class MemoryMatchStore:
    """Holds the `Match` objects themselves, no copies. Callers still `put` after each change,
    as the Redis store needs, which keeps the indexes here current."""

    def __init__(self) -> None:
        self._matches: dict[str, Match] = {}
        self._live: dict[str, None] = {}  # live game ids, in start order
        self._live_game_by_player: dict[str, str] = {}
        self._games_by_player: dict[str, dict[str, None]] = {}
        self._claim = threading.Lock()  # `create` is check-then-put: atomic on threads too

    def get(self, game_id: str) -> Match | None:
        return self._matches.get(game_id)

    def owned(self, game_id: str) -> Match | None:
        return self._matches.get(game_id)  # one process owns every game

    def owner_of(self, game_id: str) -> str | None:
        return None

    def recorded(self, game_id: str) -> None:
        pass  # no other node to adopt it

    def adopt(self, node: str, game_id: str | None = None) -> list[Match]:
        return []  # no other node

    def lock(self, game_id: str) -> Lock:
        return threading.RLock()  # reads and writes here cost nothing: a plain lock will do

    def create(self, match: Match) -> bool:
        with self._claim:
            if any(player in self._live_game_by_player for player in match.human_names()):
                return False
            self.put(match)
            return True

    def put(self, match: Match) -> None:
        game_id = match.game_id
        known = game_id in self._matches
        self._matches[game_id] = match
        if not match.is_over:
            if not known:  # the indexes change only when a game starts and when it ends
                self._live[game_id] = None
                for player in match.human_names():
                    self._live_game_by_player[player] = game_id
                    self._games_by_player.setdefault(player, {})[game_id] = None
            return
        self._live.pop(game_id, None)
        for player in match.human_names():
            self._games_by_player.setdefault(player, {})[game_id] = None
            if self._live_game_by_player.get(player) == game_id:
                del self._live_game_by_player[player]

    def delete(self, game_id: str) -> None:
        match = self._matches.pop(game_id, None)
        self._live.pop(game_id, None)
        for player in match.human_names() if match else ():
            if self._live_game_by_player.get(player) == game_id:
                del self._live_game_by_player[player]
            games = self._games_by_player.get(player)
            if games is not None:
                games.pop(game_id, None)
                if not games:
                    del self._games_by_player[player]

    def live_game_of(self, player: str) -> str | None:
        return self._live_game_by_player.get(player)

    def games_of(self, player: str) -> list[Match]:
        return [self._matches[game_id] for game_id in self._games_by_player.get(player, ())]

    def live_games(self) -> list[Match]:
        return [self._matches[game_id] for game_id in self._live]

    def live_count(self) -> int:
        return len(self._live)

    def overdue(self, cutoff: float) -> list[tuple[str, int]]:
        return [
            (match.game_id, match.round)
            for match in self.live_games()
            if match.round_deadline is not None and match.round_deadline < cutoff
        ]


class MemorySpectatorStore:
    def __init__(self) -> None:
        self._by_game: dict[str, set[str]] = {}
        self._by_user: dict[str, set[str]] = {}

    def add(self, game_id: str, user_id: str) -> None:
        self._by_game.setdefault(game_id, set()).add(user_id)
        self._by_user.setdefault(user_id, set()).add(game_id)

    def discard(self, game_id: str, user_id: str) -> bool:
        watchers = self._by_game.get(game_id)
        if watchers is None or user_id not in watchers:
            return False
        watchers.discard(user_id)
        if not watchers:
            del self._by_game[game_id]
        self._unindex(user_id, game_id)
        return True

    def is_watching(self, game_id: str, user_id: str) -> bool:
        return user_id in self._by_game.get(game_id, ())

    def count(self, game_id: str) -> int:
        return len(self._by_game.get(game_id, ()))

    def games_of(self, user_id: str) -> list[str]:
        return list(self._by_user.get(user_id, ()))

    def drop_user(self, user_id: str) -> None:
        for game_id in self._by_user.pop(user_id, ()):
            watchers = self._by_game.get(game_id)
            if watchers is not None:
                watchers.discard(user_id)
                if not watchers:
                    del self._by_game[game_id]

    def drop_game(self, game_id: str) -> set[str]:
        watchers = self._by_game.pop(game_id, set())
        for user_id in watchers:
            self._unindex(user_id, game_id)
        return watchers

    def _unindex(self, user_id: str, game_id: str) -> None:
        games = self._by_user.get(user_id)
        if games is not None:
            games.discard(game_id)
            if not games:
                del self._by_user[user_id]


class MemoryDropStore:
    def __init__(self) -> None:
        self._drops: dict[str, Drop] = {}

    def add(self, name: str, drop: Drop) -> None:
        self._drops[name] = drop

    def get(self, name: str) -> Drop | None:
        return self._drops.get(name)

    def pop(self, name: str) -> Drop | None:
        return self._drops.pop(name, None)

    def forget_queue(self, name: str) -> None:
        drop = self._drops.get(name)
        if drop is not None and drop.queued_best_of is not None:
            self._drops[name] = Drop(drop.at)


class MemoryExpiredChallenges:
    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, challenge_ids: list[str]) -> None:
        for challenge_id in challenge_ids:
            self._ids[challenge_id] = None
        while len(self._ids) > self._kept:
            self._ids.popitem(last=False)

    def __contains__(self, challenge_id: object) -> bool:
        return challenge_id in self._ids
