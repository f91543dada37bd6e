"""Quick match seeks (game/seeking.py's SeekStore) shared by every node: one hash, name -> the
seek as JSON (a queued player on any node is paired by their rating and wait)."""

from __future__ import annotations

import json

import redis

from rpschat.domain.game.seeking import Seek
from rpschat.storage.redis.client import Keys, shared_state


@shared_state
class RedisSeeks:
    def __init__(self, client: redis.Redis, keys: Keys):
        self._redis = client
        self._key = keys("seeks")

    def put(self, seek: Seek) -> None:
        self._redis.hset(self._key, seek.name, json.dumps(seek.to_dict()))

    def get_many(self, names: list[str]) -> dict[str, Seek]:
        if not names:
            return {}
        raws = self._redis.hmget(self._key, names)
        return {
            name: Seek.from_dict(json.loads(raw))
            for name, raw in zip(names, raws, strict=True)
            if raw
        }

    def forget(self, names: list[str]) -> None:
        if names:
            self._redis.hdel(self._key, *names)
