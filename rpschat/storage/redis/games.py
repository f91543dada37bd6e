"""The game's side stores (domain/game/ports.py: SpectatorStore, DropStore,
ExpiredChallengeStore) shared by every node. Each method is one round trip (a command, a
pipeline or a Lua script), visible at its call site in the game service. The matches themselves
are their owners' (matches.py)."""

from __future__ import annotations

import json
import time

from rpschat.domain.game.ports import Drop
from rpschat.storage.redis.client import (
    HASH_POP,
    Keys,
    redis,
    shared_state,
    text,
    text_set,
)

GAME_SIDE_TTL_MS = 3_600_000  # side state nobody touched for an hour belongs to a dead game

# KEYS: the user's watched games. ARGV: user, spectators key prefix.
_UNWATCH_ALL = """
for _, game_id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  redis.call('SREM', ARGV[2] .. game_id, ARGV[1])
end
redis.call('DEL', KEYS[1])
return 1
"""
# KEYS: the game's spectators. ARGV: game id, watched-games key prefix. Returns the spectators.
_DROP_GAME_SPECTATORS = """
local users = redis.call('SMEMBERS', KEYS[1])
for _, user in ipairs(users) do redis.call('SREM', ARGV[2] .. user, ARGV[1]) end
redis.call('DEL', KEYS[1])
return users
"""


@shared_state
class RedisSpectatorStore:
    """The SpectatorStore: a set of users per game and a set of games per user."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._redis = client
        self._by_game = keys("spectators") + ":"
        self._by_user = keys("watching") + ":"
        self._unwatch_all = client.register_script(_UNWATCH_ALL)
        self._drop_game = client.register_script(_DROP_GAME_SPECTATORS)

    def add(self, game_id: str, user_id: str) -> None:
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self._by_game + game_id, user_id)
            pipe.pexpire(self._by_game + game_id, GAME_SIDE_TTL_MS)
            pipe.sadd(self._by_user + user_id, game_id)
            pipe.pexpire(self._by_user + user_id, GAME_SIDE_TTL_MS)
            pipe.execute()

    def discard(self, game_id: str, user_id: str) -> bool:
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.srem(self._by_game + game_id, user_id)
            pipe.srem(self._by_user + user_id, game_id)
            removed, _ = pipe.execute()
        return bool(removed)

    def is_watching(self, game_id: str, user_id: str) -> bool:
        return bool(self._redis.sismember(self._by_game + game_id, user_id))

    def count(self, game_id: str) -> int:
        return self._redis.scard(self._by_game + game_id)

    def games_of(self, user_id: str) -> list[str]:
        return sorted(text_set(self._redis.smembers(self._by_user + user_id)))

    def drop_user(self, user_id: str) -> None:
        self._unwatch_all(keys=[self._by_user + user_id], args=[user_id, self._by_game])

    def drop_game(self, game_id: str) -> set[str]:
        users = self._drop_game(keys=[self._by_game + game_id], args=[game_id, self._by_user])
        return set(users)


# KEYS: drops. ARGV: name.
_FORGET_QUEUE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local drop = cjson.decode(raw)
if drop['best_of'] == nil or drop['best_of'] == cjson.null then return 0 end
drop['best_of'] = cjson.null
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(drop))
return 1
"""


@shared_state
class RedisDropStore:
    """The DropStore: one hash, name -> {at, best_of}."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._redis = client
        self._key = keys("drops")
        self._pop = client.register_script(HASH_POP)
        self._forget_queue = client.register_script(_FORGET_QUEUE)

    def add(self, name: str, drop: Drop) -> None:
        raw = json.dumps({"at": drop.at, "best_of": drop.queued_best_of})
        self._redis.hset(self._key, name, raw)

    def get(self, name: str) -> Drop | None:
        return _drop(text(self._redis.hget(self._key, name)))

    def pop(self, name: str) -> Drop | None:
        return _drop(self._pop(keys=[self._key], args=[name]))

    def forget_queue(self, name: str) -> None:
        self._forget_queue(keys=[self._key], args=[name])


def _drop(raw: str | None) -> Drop | None:
    if raw is None:
        return None
    data = json.loads(raw)
    return Drop(data["at"], data["best_of"])


@shared_state
class RedisExpiredChallenges:
    """The ExpiredChallengeStore: a sorted set by expiry time, trimmed to the newest `kept`."""

    def __init__(self, client: redis.Redis, keys: Keys, kept: int):
        self._redis = client
        self._key = keys("expired_challenges")
        self._kept = kept

    def add(self, challenge_ids: list[str]) -> None:
        if not challenge_ids:
            return
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self._key, dict.fromkeys(challenge_ids, time.time()), nx=True)
            pipe.zremrangebyrank(self._key, 0, -self._kept - 1)
            pipe.execute()

    def __contains__(self, challenge_id: object) -> bool:
        return (
            isinstance(challenge_id, str)
            and self._redis.zscore(self._key, challenge_id) is not None
        )
