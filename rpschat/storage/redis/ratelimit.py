"""The RateLimiter (domain/ports.py) shared by every node.

The token bucket itself is `domain/ratelimit.take_token`, the same code as on a single node:
Redis only keeps each bucket and swaps it for its successor if nobody changed it meanwhile
(compare-and-set), so there is no second implementation of the arithmetic in Lua."""

from __future__ import annotations

from rpschat.domain.ratelimit import Bucket, RateSpec, take_token, too_fast
from rpschat.storage.redis.client import Keys, redis, shared_state, text

# KEYS: the bucket. ARGV: the value read ('' when there was none), its successor, expiry ms.
# 1 if swapped; 0 if another event (on any node) changed the bucket since it was read.
_SWAP = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
MAX_SWAPS = 100  # one subject's events racing each other on several nodes: rare, and short


@shared_state
class RedisRateLimiter:
    """Buckets every node sees: a user's limit holds however many connections, on however many
    nodes, it uses. A check is a GET and, when a token is taken, a swap: two round trips."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._redis = client
        self._keys = keys
        self._kinds: set[str] = set()  # names of kinds only, for forget()
        self._swap = client.register_script(_SWAP)

    def check(self, subject: str, kind: str, spec: RateSpec | None, now: float) -> None:
        if spec is None:
            return
        self._kinds.add(kind)
        key = self._bucket(subject, kind)
        expiry_ms = int(spec.per_seconds * 1000) + 1000  # a full bucket needs no key
        for _ in range(MAX_SWAPS):
            raw = text(self._redis.get(key))
            bucket = _bucket_of(raw) or Bucket(float(spec.capacity), now)
            wait = take_token(bucket, spec, now)
            if wait:  # nothing taken, nothing to write: the stored bucket refills the same
                raise too_fast(wait)
            successor = f"{bucket.tokens!r} {bucket.updated!r}"
            if self._swap(keys=[key], args=[raw or "", successor, expiry_ms]):
                return
        raise too_fast(1 / spec.refill_per_second)

    def forget(self, subject: str) -> None:
        if self._kinds:
            self._redis.delete(*(self._bucket(subject, kind) for kind in self._kinds))

    def _bucket(self, subject: str, kind: str) -> str:
        return self._keys("bucket", subject, kind)


def _bucket_of(raw: str | None) -> Bucket | None:
    if not raw:
        return None
    tokens, updated = raw.split()
    return Bucket(float(tokens), float(updated))
