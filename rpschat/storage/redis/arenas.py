"""Arenas (game/arenas.py's ArenaStore) shared by every node: one hash, arena id -> the arena
as JSON (its players, scores and podium). Writes happen under the shared "arenas" lock."""

from __future__ import annotations

import json

import redis

from rpschat.domain.game.arenas import Arena
from rpschat.storage.redis.client import Keys, shared_state, text, texts


@shared_state
class RedisArenas:
    def __init__(self, client: redis.Redis, keys: Keys):
        self._redis = client
        self._key = keys("arenas")

    def save(self, arena: Arena) -> None:
        self._redis.hset(self._key, arena.arena_id, json.dumps(arena.to_dict()))

    def get(self, arena_id: str) -> Arena | None:
        raw = text(self._redis.hget(self._key, arena_id))
        return Arena.from_dict(json.loads(raw)) if raw else None

    def all(self) -> list[Arena]:
        return [Arena.from_dict(json.loads(raw)) for raw in texts(self._redis.hvals(self._key))]
