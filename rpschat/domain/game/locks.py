"""The game's locks by key: a lock per game, and the lobby's (game/context.py tells the order)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rpschat.domain.ports import Lock


class _Entry:
    """A key's lock, and how many hold or wait for it."""

    __slots__ = ("lock", "users")

    def __init__(self, lock: Lock) -> None:
        self.lock = lock
        self.users = 0


class KeyedLocks:
    """A reentrant lock per key (a game, or the lobby), made on first use and dropped once
    nobody holds or waits for it, so finished games leave no lock behind. `make_lock` makes
    the lock of a key: a `threading.RLock` (green under eventlet), or one every node shares."""

    def __init__(
        self,
        make_lock: Callable[[str], Lock] | None = None,
        on_wait: Callable[[str, float], None] | None = None,
    ) -> None:
        self._make_lock = make_lock or (lambda key: threading.RLock())
        self._on_wait = on_wait  # (kind of lock: the key up to its first ':', seconds waited)
        self._guard = threading.Lock()
        self._locks: dict[str, _Entry] = {}

    def hold(self, key: str, make: Callable[[], Lock] | None = None) -> _Held:
        return _Held(self, key, make)

    def held(self) -> int:
        """Keys with a lock right now (for tests: none once everyone let go)."""
        return len(self._locks)

    def _enter(self, key: str, make: Callable[[], Lock] | None) -> Lock:
        with self._guard:
            entry = self._locks.get(key)
            if entry is None:
                entry = self._locks[key] = _Entry(make() if make else self._make_lock(key))
            entry.users += 1
        start = time.perf_counter()
        try:
            entry.lock.__enter__()
        except BaseException:
            self._leave(key)
            raise
        if self._on_wait is not None:
            self._on_wait(key.partition(":")[0], time.perf_counter() - start)
        return entry.lock

    def _leave(self, key: str) -> None:
        with self._guard:
            entry = self._locks[key]
            entry.users -= 1
            if entry.users == 0:
                del self._locks[key]


class _Held:
    __slots__ = ("_locks", "_key", "_make", "_lock")

    def __init__(self, locks: KeyedLocks, key: str, make: Callable[[], Lock] | None) -> None:
        self._locks = locks
        self._key = key
        self._make = make

    def __enter__(self) -> None:
        self._lock = self._locks._enter(self._key, self._make)

    def __exit__(self, *exc: object) -> None:
        try:
            self._lock.__exit__(None, None, None)
        finally:
            self._locks._leave(self._key)
