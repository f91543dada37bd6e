"""The domain's `RateLimiter` (domain/ports.py) in this process; storage/redis/ratelimit.py
holds the one every node shares."""

from __future__ import annotations

from rpschat.domain.ratelimit import Bucket, RateSpec, take_token, too_fast


class MemoryRateLimiter:
    """The domain's `RateLimiter` (domain/ports.py) in this process: buckets per subject (a
    user or a connection) and kind of event."""

    def __init__(self) -> None:
        self._buckets: dict[str, dict[str, Bucket]] = {}

    def check(self, subject: str, kind: str, spec: RateSpec | None, now: float) -> None:
        if spec is None:
            return
        kinds = self._buckets.setdefault(subject, {})
        bucket = kinds.get(kind)
        if bucket is None:
            bucket = kinds[kind] = Bucket(float(spec.capacity), now)
        wait = take_token(bucket, spec, now)
        if wait:
            raise too_fast(wait)

    def forget(self, subject: str) -> None:
        self._buckets.pop(subject, None)
