"""Token buckets: a burst of `capacity` events, refilled at `capacity / per_seconds` a second."""

from __future__ import annotations

from dataclasses import dataclass

from rpschat.domain.errors import Code, Refused, retry_after


@dataclass(frozen=True)
class RateSpec:
    capacity: int
    per_seconds: float

    @property
    def refill_per_second(self) -> float:
        return self.capacity / self.per_seconds

    @classmethod
    def parse(cls, text: str) -> RateSpec | None:
        """`"20/10"` is 20 events per 10 seconds; `"0"` turns the limit off (None)."""
        text = text.strip()
        if text in ("0", "off"):
            return None
        count, sep, seconds = text.partition("/")
        try:
            spec = cls(int(count), float(seconds)) if sep else None
        except ValueError:
            spec = None
        if spec is None or spec.capacity < 1 or not spec.per_seconds > 0:
            raise ValueError(f"expected COUNT/SECONDS like 20/10, or 0 for no limit; got {text!r}")
        return spec


@dataclass
class Bucket:
    tokens: float
    updated: float


def take_token(bucket: Bucket, spec: RateSpec, now: float) -> float:
    """Take one token; return 0 on success or the seconds to wait until one is there."""
    elapsed = max(0.0, now - bucket.updated)
    bucket.tokens = min(spec.capacity, bucket.tokens + elapsed * spec.refill_per_second)
    bucket.updated = now
    if bucket.tokens >= 1:
        bucket.tokens -= 1
        return 0.0
    return (1 - bucket.tokens) / spec.refill_per_second


def too_fast(wait_seconds: float) -> Refused:
    wait = retry_after(wait_seconds)
    return Refused(
        Code.RATE_LIMITED, f"You are sending too fast: wait {wait:.1f} s.", retry_after=wait
    )
