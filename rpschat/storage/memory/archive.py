"""Players' finished games (game/ports.py's GameArchive) in this process."""

from __future__ import annotations

import dataclasses
import itertools
import threading

from rpschat.domain.game.ports import GameRecord


class MemoryArchive:
    """Players' finished games in this process (DATABASE_URL=memory://): a restart forgets them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._by_user: dict[str, dict[str, GameRecord]] = {}  # user -> game id -> record

    def add_many(self, records: list[GameRecord]) -> None:
        with self._lock:
            for record in records:
                games = self._by_user.setdefault(record.user_id, {})
                if record.game_id not in games:
                    games[record.game_id] = dataclasses.replace(record, id=next(self._ids))

    def page(
        self, user_id: str, before: int | None = None, limit: int = 20
    ) -> tuple[list[GameRecord], bool]:
        with self._lock:
            records = list(reversed(self._by_user.get(user_id, {}).values()))
        if before is not None:
            records = [record for record in records if record.id < before]
        return records[:limit], len(records) > limit

    def forget_user(self, user_id: str) -> None:
        with self._lock:
            self._by_user.pop(user_id, None)
