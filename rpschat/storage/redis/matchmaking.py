"""The match-making stores (domain/game/ports.py: QueueStore, ChallengeStore, RematchStore)
shared by every node."""

from __future__ import annotations

import json
from typing import Any

from rpschat.domain.game.ports import Challenge
from rpschat.storage.redis.client import HASH_POP, Keys, redis, shared_state, text, text_set, texts

# KEYS: who (player -> best_of), the best_of's list. ARGV: player, best_of.
_QUEUE_APPEND = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
"""
# KEYS: who, list. Returns the oldest player, removed, or ''.
_QUEUE_POP = """
local player = redis.call('LPOP', KEYS[2])
if not player then return '' end
redis.call('HDEL', KEYS[1], player)
return player
"""
# KEYS: who. ARGV: player, list key prefix. 1 if the player was queued.
_QUEUE_DISCARD = """
local best_of = redis.call('HGET', KEYS[1], ARGV[1])
if not best_of then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('LREM', ARGV[2] .. best_of, 0, ARGV[1])
return 1
"""


# KEYS: who, the best_of's list, live (player -> game id). ARGV: player, best_of.
_QUEUE_PAIR = """
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return {'busy'} end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {'queued'} end
while true do
  local partner = redis.call('LPOP', KEYS[2])
  if not partner then break end
  redis.call('HDEL', KEYS[1], partner)
  if redis.call('HEXISTS', KEYS[3], partner) == 0 then return {'paired', partner} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[1])
return {'waiting'}
"""


@shared_state
class RedisQueueStore:
    """The match-making QueueStore (domain/game/ports.py): a list per best_of and a hash of who
    waits for which, changed together by scripts. Pairing checks the live games of the match
    store (`RedisMatchStore`, key `live_game`) in the same script: one round trip, no lock."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._redis = client
        self._who = keys("queue", "who")
        self._list_prefix = keys("queue", "best_of") + ":"
        self._live = keys("live_game")
        self._pair = client.register_script(_QUEUE_PAIR)
        self._append = client.register_script(_QUEUE_APPEND)
        self._pop = client.register_script(_QUEUE_POP)
        self._discard = client.register_script(_QUEUE_DISCARD)

    def pair(self, player: str, best_of: int, is_busy: Any = None) -> tuple[str, str | None]:
        keys = [self._who, self._list(best_of), self._live]
        outcome, *partner = self._pair(keys=keys, args=[player, best_of])
        return outcome, (partner[0] if partner else None)

    def append(self, player: str, best_of: int) -> None:
        self._append(keys=[self._who, self._list(best_of)], args=[player, best_of])

    def pop_oldest(self, best_of: int) -> str | None:
        return self._pop(keys=[self._who, self._list(best_of)]) or None

    def discard(self, player: str) -> bool:
        return bool(self._discard(keys=[self._who], args=[player, self._list_prefix]))

    def best_of_for(self, player: str) -> int | None:
        best_of = text(self._redis.hget(self._who, player))
        return int(best_of) if best_of is not None else None

    def waiting(self, best_of: int) -> list[str]:
        return texts(self._redis.lrange(self._list(best_of), 0, -1))

    def count(self) -> int:
        return self._redis.hlen(self._who)

    def _list(self, best_of: int) -> str:
        return f"{self._list_prefix}{best_of}"


@shared_state
class RedisChallengeStore:
    """The ChallengeStore: one hash of challenges by id; a delete is a single winner's pop."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._redis = client
        self._key = keys("challenges")
        self._pop = client.register_script(HASH_POP)

    def save(self, challenge: Challenge) -> None:
        self._redis.hset(self._key, challenge.challenge_id, json.dumps(challenge.to_dict()))

    def get(self, challenge_id: str) -> Challenge | None:
        return _challenge(text(self._redis.hget(self._key, challenge_id)))

    def delete(self, challenge_id: str) -> Challenge | None:
        return _challenge(self._pop(keys=[self._key], args=[challenge_id]))

    def all(self) -> list[Challenge]:
        return [Challenge.from_dict(json.loads(raw)) for raw in texts(self._redis.hvals(self._key))]


def _challenge(raw: str | None) -> Challenge | None:
    return Challenge.from_dict(json.loads(raw)) if raw else None


REMATCH_TTL_MS = 3_600_000  # rematch requests of games nobody comes back to

# KEYS: the game's requesters. ARGV: player, ttl ms, index key prefix, players...
_REMATCH_ADD = """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
for i = 4, #ARGV do
  redis.call('SADD', ARGV[3] .. ARGV[i], KEYS[1])
  redis.call('PEXPIRE', ARGV[3] .. ARGV[i], ARGV[2])
end
return redis.call('SMEMBERS', KEYS[1])
"""


@shared_state
class RedisRematchStore:
    """The RematchStore: a set of requesters per game, and per player the games to clear."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._redis = client
        self._requests_prefix = keys("rematch", "requests") + ":"
        self._by_player_prefix = keys("rematch", "by_player") + ":"
        self._add = client.register_script(_REMATCH_ADD)

    def add_request(self, game_id: str, player: str, players: frozenset[str]) -> frozenset[str]:
        args: list[str | int] = [player, REMATCH_TTL_MS, self._by_player_prefix, *sorted(players)]
        return frozenset(self._add(keys=[self._requests(game_id)], args=args))

    def requests(self, game_id: str) -> frozenset[str]:
        return frozenset(text_set(self._redis.smembers(self._requests(game_id))))

    def clear(self, game_id: str) -> None:
        self._redis.delete(self._requests(game_id))

    def games_involving(self, player: str) -> list[str]:
        keys = text_set(self._redis.smembers(self._by_player_prefix + player))
        return sorted(key.removeprefix(self._requests_prefix) for key in keys)

    def _requests(self, game_id: str) -> str:
        return self._requests_prefix + game_id
