"""Password hashing, bounded, so that it can't be turned against the server.

An Argon2id hash takes `PASSWORD_HASH_KIB` of memory (64 MiB by default) and a few hundred
milliseconds of CPU, on purpose. Run in eventlet's thread pool as it was, 30 claims at once from
one address took the process from 92 MB to 1,374 MB (the pool's 20 threads hashing at once) and
made every database call (which runs in the same pool) wait behind them: a bystander's chat ack
went from 3-7 ms to 3.4-6.3 s.

So at most `concurrency` hashes or verifications run at once (the rest of the pool stays free for
the database), at most `queue` more wait for a turn, and beyond that password work is refused at
once, with the seconds to wait. Callers apply their per-address and per-name limits first, so a
refused or limited attempt costs no hash at all.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from rpschat.domain.errors import Code, Refused
from rpschat.domain.ports import PasswordHasher, Runtime

log = logging.getLogger("rpschat.passwords")

# A first guess of one hash's duration, until one was timed (64 MiB, 3 passes: 0.1-0.3 s).
FIRST_GUESS_SECONDS = 0.3


def too_busy(retry_after: float) -> Refused:
    return Refused(
        Code.UNAVAILABLE,
        f"The server is busy checking passwords: try again in {retry_after:.0f} s.",
        retry_after=retry_after,
    )


class PasswordWork:
    """The PasswordHasher, at most `concurrency` at once and `queue` waiting; the calls block
    (a green thread under eventlet: only the caller's connection waits).

    The semaphore and the lock are `threading`'s: green ones once eventlet has patched the
    standard library (as `Runtime.event` relies on), plain ones under threads."""

    def __init__(
        self, hasher: PasswordHasher, runtime: Runtime, concurrency: int = 2, queue: int = 8
    ):
        self._hasher = hasher
        self._runtime = runtime
        self.concurrency = max(1, concurrency)
        self.queue = max(0, queue)
        self._turns = threading.Semaphore(self.concurrency)
        self._lock = threading.Lock()
        self._admitted = 0  # running or waiting for a turn
        self._seconds = FIRST_GUESS_SECONDS  # a moving average of one hash's duration

    def hash(self, password: str) -> str:
        return str(self._run(self._hasher.hash, password))

    def verify(self, password_hash: str, password: str) -> bool:
        return bool(self._run(self._hasher.verify, password_hash, password))

    def _run(self, fn: Any, *args: Any) -> Any:
        self._admit()
        try:
            with self._turns:
                started = time.monotonic()
                try:
                    return self._runtime.run_blocking(fn, *args)
                finally:
                    self._timed(time.monotonic() - started)
        finally:
            with self._lock:
                self._admitted -= 1

    def _admit(self) -> None:
        with self._lock:
            if self._admitted >= self.concurrency + self.queue:
                raise too_busy(self.retry_after())
            self._admitted += 1

    @property
    def admitted(self) -> int:
        """Password work running or waiting for a turn now."""
        return self._admitted

    def retry_after(self) -> float:
        """Whole seconds until the work admitted now is done, at least 1."""
        rounds = math.ceil(max(1, self._admitted) / self.concurrency)
        return float(max(1, math.ceil(rounds * self._seconds)))

    def _timed(self, seconds: float) -> None:
        with self._lock:
            self._seconds = 0.8 * self._seconds + 0.2 * seconds


class FailedAttemptLog:
    """One WARNING line per failed password attempt (the name and the client address, never
    the password), at most a burst of `burst` then `per_second`: a guesser can't flood the log.
    Lines left out are counted in the next one."""

    def __init__(
        self, burst: int = 20, per_second: float = 1.0, clock: Callable[[], float] = time.monotonic
    ):
        self._burst, self._per_second, self._clock = burst, per_second, clock
        self._tokens, self._at, self._left_out = float(burst), clock(), 0
        self._lock = threading.Lock()

    def __call__(self, what: str, name: str, address: str) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._per_second)
            self._at = now
            if self._tokens < 1:
                self._left_out += 1
                return
            self._tokens -= 1
            left_out, self._left_out = self._left_out, 0
        more = f" ({left_out} more not logged)" if left_out else ""
        log.warning("%s for %r from %s%s", what, name, address, more, extra={"address": address})
