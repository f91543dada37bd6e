"""The chat's limits: the numbers (`ChatLimits`), the per-user rate limits every service applies
(`RateLimits`), and the names taken per client address (`JoinLimit`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rpschat.domain.errors import Code, Refused, retry_after
from rpschat.domain.ports import Connection, RateLimiter, Runtime
from rpschat.domain.ratelimit import Bucket, RateSpec, take_token


@dataclass(frozen=True)
class ChatLimits:
    max_message_chars: int = 2000
    chat_rate: RateSpec | None = RateSpec(20, 10.0)
    other_rate: RateSpec | None = RateSpec(60, 10.0)
    resume_grace_seconds: float = 10.0
    unnamed_idle_seconds: float = 120.0
    history_on_join: int = 50
    edit_window_seconds: int = 900  # EDIT_WINDOW_SECONDS: one's own message can be edited
    # Names taken (joins, renames, resumes that announce an entry) per client address: each is
    # a line to everyone, and a new connection is a new user with a fresh per-user bucket.
    join_rate: RateSpec | None = RateSpec(30, 60.0)
    # The largest answer one event gets (join-time history, a history page, the users list,
    # a resume's replay): a quarter of MAX_BACKLOG_BYTES, so that no legal state of the server
    # makes a frame that drops its reader as a slow consumer. None: no limit.
    max_answer_bytes: int | None = 256 * 1024
    # Password attempts (log-ins to a claimed name, releases, claims): per claimed name and
    # address (LOGIN_RATE), per address (LOGIN_RATE_PER_IP), and per claimed name from devices
    # it does not know (LOGIN_RATE_PER_NAME, against guessing from many addresses)
    login_rate: RateSpec | None = RateSpec(5, 60.0)
    login_rate_per_address: RateSpec | None = RateSpec(20, 60.0)
    login_rate_per_name: RateSpec | None = RateSpec(60, 600.0)


@dataclass
class RateLimits:
    """The same per-user rate limit for every service's events: "chat" for what a user posts
    (lobby, game chat, DMs), "other" for the rest. A connection without a user counts alone."""

    limiter: RateLimiter
    runtime: Runtime
    limits: ChatLimits

    def limit(self, conn: Connection, kind: str) -> None:
        spec = self.limits.chat_rate if kind == "chat" else self.limits.other_rate
        self.limiter.check(conn.user_id or conn.sid, kind, spec, self.runtime.now())


@dataclass
class JoinLimit:
    """Names taken from one client address (JOIN_RATE): a bucket per address, in this process.
    Memory stays bounded by the addresses seen within one refill period."""

    spec: RateSpec | None
    runtime: Runtime
    buckets: dict[str, Bucket] = field(default_factory=dict)
    _prune_at: int = 1024

    def take(self, address: str) -> None:
        """One name taken from `address`, or a refusal once it took too many, too fast."""
        spec = self.spec
        if spec is None:
            return
        now = self.runtime.now()
        bucket = self.buckets.get(address)
        if bucket is None:
            if len(self.buckets) >= self._prune_at:
                self._prune(spec, now)
            bucket = self.buckets[address] = Bucket(float(spec.capacity), now)
        wait = take_token(bucket, spec, now)
        if wait:
            wait = retry_after(wait)
            raise Refused(
                Code.TOO_MANY_NAMES,
                f"Too many names taken from your address: wait {wait:.1f} s.",
                retry_after=wait,
            )

    def _prune(self, spec: RateSpec, now: float) -> None:
        """Forget the buckets that have refilled (as good as none): amortized O(1) per join."""
        self.buckets = {
            address: bucket
            for address, bucket in self.buckets.items()
            if bucket.tokens + (now - bucket.updated) * spec.refill_per_second < spec.capacity
        }
        self._prune_at = max(1024, 2 * len(self.buckets))
