"""Arenas (game/arenas.py's ArenaStore) in this process: a restart forgets them."""

from __future__ import annotations

import threading

from rpschat.domain.game.arenas import Arena


class MemoryArenas:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arenas: dict[str, dict] = {}  # kept as dicts: a caller's changes need a save

    def save(self, arena: Arena) -> None:
        with self._lock:
            self._arenas[arena.arena_id] = arena.to_dict()

    def get(self, arena_id: str) -> Arena | None:
        with self._lock:
            found = self._arenas.get(arena_id)
            return None if found is None else Arena.from_dict(_copy(found))

    def all(self) -> list[Arena]:
        with self._lock:
            return [Arena.from_dict(_copy(a)) for a in self._arenas.values()]


def _copy(data: dict) -> dict:
    import copy

    return copy.deepcopy(data)
