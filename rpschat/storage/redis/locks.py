"""Locks every node shares: a game's, the lobby's (domain/game/context.py)."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from rpschat.domain.errors import Code
from rpschat.storage.redis.client import LOST, SharedStateUnavailable, log, redis


def wake_lua(key: str) -> str:
    """Lua for a release: leave one token in the lock's wake-up list `key` (KEYS[n]). A node
    waiting for the lock blocks on that list (BLPOP) instead of polling, and tries again the
    moment it is released. One token at most, gone after a while: a stale one costs a waiter one
    more try."""
    return f"""
redis.call('DEL', {key})
redis.call('RPUSH', {key}, 1)
redis.call('PEXPIRE', {key}, 5000)
"""


WAKE_CHECK_SECONDS = 0.25  # a holder that died releases nothing: its key expires, seen this late

# KEYS: the lock. ARGV: token, ttl ms. 1 if this token holds it now. Idempotent: a retry after a
# lost reply (the first SET went through) finds its own token and succeeds.
_LOCK = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS: the lock, its wake-up list. ARGV: token. 1 if this token held it (now released).
_UNLOCK = f"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
{wake_lua("KEYS[2]")}
return 1
"""


class LockLost(SharedStateUnavailable):
    """A holder's write refused: its lock expired while held (the holder stalled for longer than
    the lock's TTL), so another may have taken it and changed what the lock guards."""

    def __init__(self, key: str):
        log.warning("lost %s while holding it: its write was refused", key)
        super().__init__(Code.UNAVAILABLE, "The server was too slow to finish that: try again.")


def lock_scripts(client: redis.Redis) -> tuple[Any, Any]:
    return client.register_script(_LOCK), client.register_script(_UNLOCK)


class SharedLock:
    """A reentrant lock held across the cluster: a local RLock (so a node's own tasks queue up
    cheaply) plus a Redis key set only if absent, with an expiry so a dead holder frees it.

    The game service holds one per game, and one for the lobby (pairing players): a match is
    read, changed and written back whole, and a lock is simpler to get right than compare-and-set
    everywhere. `scripts`: the take and release scripts, registered once for many locks."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        ttl_seconds: float = 30.0,
        wait_seconds: float = 30.0,
        scripts: tuple[Any, Any] | None = None,
    ):
        self._redis = client
        self._key = key
        self._ttl_ms = int(ttl_seconds * 1000)
        self._wait_seconds = wait_seconds
        self._local = threading.RLock()
        self._depth = 0
        self._token = ""
        self._take, self._unlock = scripts or lock_scripts(client)

    def __enter__(self) -> SharedLock:
        self._local.acquire()
        if self._depth == 0:
            try:
                self._acquire_shared()
            except BaseException:
                self._local.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                self._release_shared()
        finally:
            self._local.release()

    def _acquire_shared(self) -> None:
        token = secrets.token_hex(8)
        deadline = time.monotonic() + self._wait_seconds
        while True:
            try:
                if self._try_take(token):
                    self._token = token
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SharedStateUnavailable(
                        Code.UNAVAILABLE, "The server is busy: try again in a moment."
                    )
                # until the holder releases it (green under eventlet), not a polling sleep: a
                # waiter on another node once slept up to 20 ms past each release
                self._redis.blpop([self.wake_key], timeout=min(left, WAKE_CHECK_SECONDS))
            except LOST as exc:
                raise SharedStateUnavailable() from exc

    def _try_take(self, token: str) -> bool:
        """One attempt to take the key (one round trip); a subclass may read with it."""
        return bool(self._take(keys=[self._key], args=[token, self._ttl_ms]))

    @property
    def wake_key(self) -> str:
        return self._key + ":wake"

    def _release_shared(self) -> None:
        try:
            self._unlock(keys=[self._key, self.wake_key], args=[self._token])
        except LOST:  # the key expires by itself
            log.warning("could not release %s: it will expire", self._key)
