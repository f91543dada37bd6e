"""Slow mode for the lobby (issue 25, point 7): `mod_slow {seconds}` lets each person post one
lobby message per N seconds (moderators excepted). The setting is kept in the database, shared
by every node, and read again at most once a second (`CACHE_SECONDS`); each person's pace is
the shared rate limiter's (Redis with REDIS_URL), so it holds across nodes."""

from __future__ import annotations

from dataclasses import dataclass

from rpschat.domain.errors import Code, Refused
from rpschat.domain.ports import Connection, ModerationStore, RateLimiter, Runtime, Sanctioning
from rpschat.domain.ratelimit import RateSpec

CACHE_SECONDS = 1.0
KEY = "slow_seconds"
MAX_SLOW_SECONDS = 3600


@dataclass
class SlowMode:
    store: ModerationStore
    limiter: RateLimiter
    sanctions: Sanctioning  # moderators post freely
    runtime: Runtime
    _read_at: float = float("-inf")
    _seconds: int = 0

    def seconds(self) -> int:
        now = self.runtime.now()
        if now - self._read_at >= CACHE_SECONDS:
            raw = self.store.setting(KEY)
            self._seconds = int(raw) if raw and raw.isdigit() else 0
            self._read_at = now
        return self._seconds

    def set(self, seconds: int) -> None:
        self.store.set_setting(KEY, str(seconds))
        self._seconds, self._read_at = seconds, self.runtime.now()

    def check(self, conn: Connection) -> None:
        """Refused (`slow_mode`, with `retry_after`) for a second lobby message too soon."""
        seconds = self.seconds()
        if not seconds or self.sanctions.is_moderator(conn.user_id):
            return
        spec = RateSpec(1, float(seconds))
        try:
            self.limiter.check(
                conn.user_id or conn.sid, f"slow:{seconds}", spec, self.runtime.now()
            )
        except Refused as refused:
            wait = refused.details.get("retry_after", seconds)
            raise Refused(
                Code.SLOW_MODE,
                f"Slow mode: one message every {seconds} s. Wait {wait:.0f} s.",
                retry_after=wait,
            ) from None
