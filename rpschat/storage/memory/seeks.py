"""Quick match seeks (game/seeking.py's SeekStore) in this process."""

from __future__ import annotations

import threading

from rpschat.domain.game.seeking import Seek


class MemorySeeks:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seeks: dict[str, Seek] = {}

    def put(self, seek: Seek) -> None:
        with self._lock:
            self._seeks[seek.name] = seek

    def get_many(self, names: list[str]) -> dict[str, Seek]:
        with self._lock:
            return {name: self._seeks[name] for name in names if name in self._seeks}

    def forget(self, names: list[str]) -> None:
        with self._lock:
            for name in names:
                self._seeks.pop(name, None)
