"""The domain's `RateLimiter` (domain/ports.py) in this process; storage/redis/ratelimit.py
holds the one every node shares."""

from __future__ import annotations

from rpschat.domain.ratelimit import Bucket, RateSpec, take_token, too_fast


class MemoryRateLimiter:
    """The domain's `RateLimiter` (domain/ports.py) in this process: buckets per subject (a
    user or a connection) and kind of event."""

    def __init__(self) -> None:
        self._buckets: dict[str, dict[str, Bucket]] = {}
        self._specs: dict[str, RateSpec] = {}  # kind -> its spec, to tell a full bucket
        self._prune_at = 4096

    def check(self, subject: str, kind: str, spec: RateSpec | None, now: float) -> None:
        if spec is None:
            return
        self._specs[kind] = spec
        kinds = self._buckets.get(subject)
        if kinds is None:
            if len(self._buckets) >= self._prune_at:
                self._prune(now)
            kinds = self._buckets[subject] = {}
        bucket = kinds.get(kind)
        if bucket is None:
            bucket = kinds[kind] = Bucket(float(spec.capacity), now)
        wait = take_token(bucket, spec, now)
        if wait:
            raise too_fast(wait)

    def forget(self, subject: str) -> None:
        self._buckets.pop(subject, None)

    def _prune(self, now: float) -> None:
        """Forget the subjects whose buckets have all refilled (as good as none): memory stays
        bounded by the subjects seen within one refill period (password attempts are counted
        per name and address: a guesser chooses both), amortized O(1) per new subject."""
        self._buckets = {
            subject: kinds
            for subject, kinds in self._buckets.items()
            if any(not _refilled(bucket, self._specs[kind], now) for kind, bucket in kinds.items())
        }
        self._prune_at = max(4096, 2 * len(self._buckets))


def _refilled(bucket: Bucket, spec: RateSpec, now: float) -> bool:
    return bucket.tokens + (now - bucket.updated) * spec.refill_per_second >= spec.capacity
