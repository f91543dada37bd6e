"""Shared state in Redis, so that many nodes behind a load balancer act as one server.

With REDIS_URL set, everything that must be the same on every node lives here, changed only by
atomic operations (a Lua script or a single command): the names online and who holds them, each
user's connection and node, tokens, rate-limit buckets, the match-making queue, challenges,
rematch requests and live games. What stays in a node's memory is only about its own sockets.

Nodes and ghosts. Every node has an id and a key `alive:<node>` that expires after
NODE_TTL_SECONDS; `ClusterKeeper` refreshes it every tick (a quarter of the TTL, at most 1 s).
Each online user records its node (`home`), which moves when the user resumes elsewhere. Every
node's keeper also looks for nodes whose key has expired (killed, frozen, cut off): it takes
their users over one by one (an atomic move, so one node gets each) and treats each as dropped,
through the chat's normal path: the opponent is told, and after RESUME_GRACE_SECONDS without a
resume the user leaves (leave line, presence, game over by `disconnect`, queue entries and
challenges dropped). A dead node's users are therefore gone within
NODE_TTL_SECONDS + one tick + RESUME_GRACE_SECONDS: 21 s with the defaults.

Round timers run on the node that started the round; the keeper on every node also settles
rounds more than a tick overdue (idempotent under the game lock), which covers a dead node's.

Redis down. Commands retry with exponential backoff for about a second and a half; after that
the call raises `SharedStateUnavailable`, a refusal, so the handler acks a clear error instead of
crashing. The keeper survives outages, and when Redis comes back empty (restarted without
persistence) it puts back its node's users, names and tokens from its own connections.

The scripts build a few key names themselves (a node's user set): fine on one Redis, not on
Redis Cluster.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from rpschat.domain.errors import Refused
from rpschat.domain.game.match import Match
from rpschat.domain.game.stores import KeyedLocks
from rpschat.domain.games import EXPIRED_CHALLENGES_KEPT
from rpschat.domain.matchmaking import Challenge
from rpschat.domain.ports import Drop
from rpschat.domain.ratelimit import RateSpec, too_fast
from rpschat.domain.text import name_key
from rpschat.storage.presence import TokenGrant, name_taken, split_token

log = logging.getLogger("rpschat.cluster")

UNAVAILABLE = "The server can't reach its shared state right now: try again in a moment."
LOST = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class SharedStateUnavailable(Refused):
    def __init__(self, reason: str = UNAVAILABLE):
        super().__init__(reason)


def _shared(method: Callable) -> Callable:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except LOST as exc:
            log.warning("redis unavailable in %s: %s", method.__qualname__, exc)
            raise SharedStateUnavailable() from exc

    return call


def shared_state(cls: type) -> type:
    """Every public (or container dunder) method turns a lost Redis, after its retries, into a
    clear refusal."""
    for attr, value in list(vars(cls).items()):
        dunder = attr.startswith("__") and attr != "__init__"
        if callable(value) and (dunder or not attr.startswith("_")):
            setattr(cls, attr, _shared(value))
    return cls


POOL_WAIT_SECONDS = 30  # a burst (a join storm) waits for a connection rather than failing


def connect(url: str, max_connections: int = 400) -> redis.Redis:
    """A client whose commands retry with backoff (~1.5 s in all) across a Redis restart."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=POOL_WAIT_SECONDS,
        decode_responses=True,
        socket_timeout=10,  # a starved event loop reads late replies: not a reason to fail
        socket_connect_timeout=2,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=6),
        retry_on_error=list(LOST),
    )
    return redis.Redis(connection_pool=pool)


def new_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Keys:
    """Every key under one prefix, so deployments (and test runs) share a Redis safely."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def __call__(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    def node_users(self, node: str) -> str:
        return self("node", node, "users")


# ---------------------------------------------------------------- names, presence, tokens

# KEYS: names (key -> user), users (user -> name), keys (user -> key), home (user -> node)
# ARGV: user, name, key, node, prefix. Returns {1, old name or ''} or {0} when taken.
_CLAIM = """
local holder = redis.call('HGET', KEYS[1], ARGV[3])
if holder and holder ~= ARGV[1] then return {0} end
local old = redis.call('HGET', KEYS[2], ARGV[1])
local old_key = redis.call('HGET', KEYS[3], ARGV[1])
if old_key and old_key ~= ARGV[3] then redis.call('HDEL', KEYS[1], old_key) end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
if not redis.call('HGET', KEYS[4], ARGV[1]) then
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[4])
  redis.call('SADD', ARGV[5] .. ':node:' .. ARGV[4] .. ':users', ARGV[1])
end
return {1, old or ''}
"""

# KEYS: names, users, keys, sids, home. ARGV: user, prefix. Returns the freed name or ''.
_RELEASE = """
local name = redis.call('HGET', KEYS[2], ARGV[1])
local key = redis.call('HGET', KEYS[3], ARGV[1])
if key and redis.call('HGET', KEYS[1], key) == ARGV[1] then redis.call('HDEL', KEYS[1], key) end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
local home = redis.call('HGET', KEYS[5], ARGV[1])
if home then
  redis.call('SREM', ARGV[2] .. ':node:' .. home .. ':users', ARGV[1])
  redis.call('HDEL', KEYS[5], ARGV[1])
end
return name or ''
"""

# KEYS: sids, home. ARGV: user, sid, node, prefix. Returns the replaced sid or ''.
_ATTACH = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local home = redis.call('HGET', KEYS[2], ARGV[1])
if home ~= ARGV[3] then
  if home then redis.call('SREM', ARGV[4] .. ':node:' .. home .. ':users', ARGV[1]) end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  redis.call('SADD', ARGV[4] .. ':node:' .. ARGV[3] .. ':users', ARGV[1])
end
if old == ARGV[2] or not old then return '' end
return old
"""

# KEYS: sids. ARGV: user, sid. Forgets the sid only if it is still the user's.
_DETACH = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""

# KEYS: home. ARGV: user, dead node, this node, prefix. 1 if the user moved to this node.
_TAKE_OVER = """
local dead_set = ARGV[4] .. ':node:' .. ARGV[2] .. ':users'
redis.call('SREM', dead_set, ARGV[1])
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SADD', ARGV[4] .. ':node:' .. ARGV[3] .. ':users', ARGV[1])
return 1
"""


@shared_state
class RedisDirectory:
    """The Directory (see storage/presence.py) for all nodes, plus each user's node."""

    def __init__(self, client: redis.Redis, keys: Keys, node_id: str):
        self._redis = client
        self._keys = keys
        self.node_id = node_id
        self._names, self._users = keys("names"), keys("users")
        self._name_keys, self._sids, self._home = keys("name_keys"), keys("sids"), keys("home")
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._attach = client.register_script(_ATTACH)
        self._detach = client.register_script(_DETACH)
        self._take_over = client.register_script(_TAKE_OVER)

    def claim(self, user_id: str, name: str) -> str | None:
        keys = [self._names, self._users, self._name_keys, self._home]
        args = [user_id, name, name_key(name), self.node_id, self._keys.prefix]
        result = self._claim(keys=keys, args=args)
        if not result[0]:
            raise name_taken(name)
        return result[1] or None

    def release(self, user_id: str) -> str | None:
        keys = [self._names, self._users, self._name_keys, self._sids, self._home]
        return self._release(keys=keys, args=[user_id, self._keys.prefix]) or None

    def name_of(self, user_id: str) -> str | None:
        return self._redis.hget(self._users, user_id)

    def user_of(self, name: str) -> str | None:
        return self._redis.hget(self._names, name_key(name))

    def names(self) -> list[str]:
        return sorted(self._redis.hvals(self._users), key=name_key)

    def count(self) -> int:
        return self._redis.hlen(self._users)

    def attach(self, user_id: str, sid: str) -> str | None:
        args = [user_id, sid, self.node_id, self._keys.prefix]
        return self._attach(keys=[self._sids, self._home], args=args) or None

    def detach(self, user_id: str, sid: str) -> bool:
        return bool(self._detach(keys=[self._sids], args=[user_id, sid]))

    def sid_of(self, user_id: str) -> str | None:
        return self._redis.hget(self._sids, user_id)

    # ---- nodes -------------------------------------------------------------------------------

    def homes_of(self, user_ids: list[str]) -> list[str | None]:
        return self._redis.hmget(self._home, user_ids) if user_ids else []

    def sids_of(self, user_ids: list[str]) -> list[str | None]:
        return self._redis.hmget(self._sids, user_ids) if user_ids else []

    def users_on(self, node: str) -> set[str]:
        return self._redis.smembers(self._keys.node_users(node))

    def take_over(self, user_id: str, dead_node: str) -> bool:
        """Move a user of a dead node to this one; True for exactly one taker."""
        args = [user_id, dead_node, self.node_id, self._keys.prefix]
        return bool(self._take_over(keys=[self._home], args=args))


_RENAME_TOKEN = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'name', ARGV[1]) end
return 1
"""


@shared_state
class RedisTokens:
    """Tokens (see storage/presence.py): one hash per user, expiring TTL after last use."""

    def __init__(self, client: redis.Redis, keys: Keys, ttl_seconds: float):
        self._redis = client
        self._keys = keys
        self._ttl_ms = int(ttl_seconds * 1000)
        self._rename = client.register_script(_RENAME_TOKEN)

    def issue(self, user_id: str, name: str) -> str:
        secret = secrets.token_urlsafe(32)
        self._store(user_id, secret, name)
        return f"{user_id}.{secret}"

    def restore(self, token: str, name: str) -> None:
        """Put back a token a live connection still holds (Redis lost it in a restart)."""
        parts = split_token(token)
        if parts and not self._redis.exists(self._keys("token", parts[0])):
            self._store(parts[0], parts[1], name)

    def resolve(self, token: object) -> TokenGrant | None:
        parts = split_token(token)
        if parts is None:
            return None
        key = self._keys("token", parts[0])
        secret, name = self._redis.hmget(key, ["secret", "name"])
        if secret is None or not hmac.compare_digest(secret, parts[1]):
            return None
        self._redis.pexpire(key, self._ttl_ms)
        return TokenGrant(parts[0], name)

    def rename(self, user_id: str, name: str) -> None:
        self._rename(keys=[self._keys("token", user_id)], args=[name])

    def _store(self, user_id: str, secret: str, name: str) -> None:
        key = self._keys("token", user_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"secret": secret, "name": name})
            pipe.pexpire(key, self._ttl_ms)
            pipe.execute()


# ---------------------------------------------------------------- rate limits

# KEYS: the bucket. ARGV: capacity, refill per second, now, expiry ms.
# Returns the seconds to wait, as a string (Lua numbers become integers in replies), "0" if ok.
_TAKE_TOKEN = """
local capacity, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(bucket[1]) or capacity
local updated = tonumber(bucket[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return tostring(wait)
"""


@shared_state
class RedisRateLimiter:
    """The RateLimiter (domain/ratelimit.py) with buckets every node sees: a user's limit holds
    however many connections, on however many nodes, it uses."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._redis = client
        self._keys = keys
        self._kinds: set[str] = set()  # names of kinds only, for forget()
        self._take = client.register_script(_TAKE_TOKEN)

    def check(self, subject: str, kind: str, spec: RateSpec | None, now: float) -> None:
        if spec is None:
            return
        self._kinds.add(kind)
        expiry_ms = int(spec.per_seconds * 1000) + 1000  # a full bucket needs no key
        args = [spec.capacity, repr(spec.refill_per_second), repr(now), expiry_ms]
        wait = float(self._take(keys=[self._bucket(subject, kind)], args=args))
        if wait > 0:
            raise too_fast(wait)

    def forget(self, subject: str) -> None:
        if self._kinds:
            self._redis.delete(*(self._bucket(subject, kind) for kind in self._kinds))

    def _bucket(self, subject: str, kind: str) -> str:
        return self._keys("rate", subject, kind)


# ---------------------------------------------------------------- games' stores

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


@shared_state
class RedisQueueStore:
    """The match-making QueueStore (domain/matchmaking.py): a list per best_of and a hash of
    who waits for which, changed together by scripts."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._redis = client
        self._who = keys("queue", "who")
        self._list_prefix = keys("queue", "best_of") + ":"
        self._append = client.register_script(_QUEUE_APPEND)
        self._pop = client.register_script(_QUEUE_POP)
        self._discard = client.register_script(_QUEUE_DISCARD)

    def append(self, player: str, best_of: int) -> None:
        self._append(keys=[self._who, self._list(best_of)], args=[player, best_of])

    def pop_oldest(self, best_of: int) -> str | None:
        return self._pop(keys=[self._who, self._list(best_of)]) or None

    def discard(self, player: str) -> bool:
        return bool(self._discard(keys=[self._who], args=[player, self._list_prefix]))

    def best_of_for(self, player: str) -> int | None:
        best_of = self._redis.hget(self._who, player)
        return int(best_of) if best_of is not None else None

    def waiting(self, best_of: int) -> list[str]:
        return self._redis.lrange(self._list(best_of), 0, -1)

    def count(self) -> int:
        return self._redis.hlen(self._who)

    def _list(self, best_of: int) -> str:
        return f"{self._list_prefix}{best_of}"


_HASH_POP = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value then redis.call('HDEL', KEYS[1], ARGV[1]) end
return value
"""


@shared_state
class RedisChallengeStore:
    """The ChallengeStore: one hash of challenges by id; a delete is a single winner's pop."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._redis = client
        self._key = keys("challenges")
        self._pop = client.register_script(_HASH_POP)

    def save(self, challenge: Challenge) -> None:
        self._redis.hset(self._key, challenge.challenge_id, json.dumps(challenge.to_dict()))

    def get(self, challenge_id: str) -> Challenge | None:
        return _challenge(self._redis.hget(self._key, challenge_id))

    def delete(self, challenge_id: str) -> Challenge | None:
        return _challenge(self._pop(keys=[self._key], args=[challenge_id]))

    def all(self) -> list[Challenge]:
        return [_challenge(raw) for raw in self._redis.hvals(self._key)]


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
        args = [player, REMATCH_TTL_MS, self._by_player_prefix, *sorted(players)]
        return frozenset(self._add(keys=[self._requests(game_id)], args=args))

    def requests(self, game_id: str) -> frozenset[str]:
        return frozenset(self._redis.smembers(self._requests(game_id)))

    def clear(self, game_id: str) -> None:
        self._redis.delete(self._requests(game_id))

    def games_involving(self, player: str) -> list[str]:
        keys = self._redis.smembers(self._by_player_prefix + player)
        return sorted(key.removeprefix(self._requests_prefix) for key in keys)

    def _requests(self, game_id: str) -> str:
        return self._requests_prefix + game_id


# KEYS: the game, live game ids (a sorted set, by start order), live (player -> game id), a
# counter, round deadlines of live games (a sorted set).
# ARGV: game id, snapshot, finished ttl ms, live flag, player's games key prefix, round deadline,
# players...
_MATCH_PUT = """
local new = redis.call('EXISTS', KEYS[1]) == 0
if ARGV[4] == '1' then
  redis.call('SET', KEYS[1], ARGV[2])
  if new then redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), ARGV[1]) end
  redis.call('ZADD', KEYS[5], ARGV[6], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[5], ARGV[1])
end
for i = 7, #ARGV do
  if ARGV[4] == '1' then
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[1])
  elseif redis.call('HGET', KEYS[3], ARGV[i]) == ARGV[1] then
    redis.call('HDEL', KEYS[3], ARGV[i])
  end
  if new or ARGV[4] ~= '1' then
    redis.call('SADD', ARGV[5] .. ARGV[i], ARGV[1])
    redis.call('PEXPIRE', ARGV[5] .. ARGV[i], ARGV[3])
  end
end
return 1
"""
# KEYS: the game, live game ids, live, round deadlines. ARGV: game id, player's games prefix.
_MATCH_DELETE = """
local raw = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if raw then
  for _, player in ipairs(cjson.decode(raw)['players']) do
    if redis.call('HGET', KEYS[3], player) == ARGV[1] then redis.call('HDEL', KEYS[3], player) end
    redis.call('SREM', ARGV[2] .. player, ARGV[1])
  end
end
return 1
"""
# KEYS: a set or sorted set of game ids. ARGV: game key prefix, 'z' for a sorted set (oldest
# first; ARGV[3]: the highest score wanted, or '+inf'). The snapshots still there; the ids of
# expired ones are removed.
_MATCHES_OF = """
local ids
if ARGV[2] == 'z' then
  ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
else
  ids = redis.call('SMEMBERS', KEYS[1])
end
local found = {}
for _, id in ipairs(ids) do
  local raw = redis.call('GET', ARGV[1] .. id)
  if raw then
    found[#found + 1] = raw
  elseif ARGV[2] == 'z' then
    redis.call('ZREM', KEYS[1], id)
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return found
"""


@shared_state
class RedisMatchStore:
    """The MatchStore (domain/games.py): each match's `to_dict` snapshot under its own key,
    finished ones expiring after `finished_ttl_seconds` (the game service's
    `finished_game_seconds`), and the indexes its queries need: the live games in start order,
    their round deadlines, each player's live game and each player's kept games. Every method is
    one round trip."""

    def __init__(self, client: redis.Redis, keys: Keys, finished_ttl_seconds: float):
        self._redis = client
        self._keys = keys
        self._live_ids, self._live, self._started = (
            keys("games"),
            keys("live_game"),
            keys("started"),
        )
        self._deadlines = keys("round_deadlines")
        self._game_prefix = keys("game") + ":"
        self._of_player_prefix = keys("games_of") + ":"
        self._finished_ttl_ms = max(1, int(finished_ttl_seconds * 1000))
        self._put = client.register_script(_MATCH_PUT)
        self._delete = client.register_script(_MATCH_DELETE)
        self._matches_of = client.register_script(_MATCHES_OF)

    def get(self, game_id: str) -> Match | None:
        raw = self._redis.get(self._game_prefix + game_id)
        return Match.from_dict(json.loads(raw)) if raw else None

    def put(self, match: Match) -> None:
        live = "0" if match.is_over else "1"
        deadline = repr(match.round_deadline or 0.0)
        snapshot = json.dumps(match.to_dict())
        args = [match.game_id, snapshot, self._finished_ttl_ms, live, self._of_player_prefix]
        keys = [self._game_prefix + match.game_id, self._live_ids, self._live, self._started]
        self._put(keys=[*keys, self._deadlines], args=[*args, deadline, *match.players])

    def delete(self, game_id: str) -> None:
        keys = [self._game_prefix + game_id, self._live_ids, self._live, self._deadlines]
        self._delete(keys=keys, args=[game_id, self._of_player_prefix])

    def live_game_of(self, player: str) -> str | None:
        return self._redis.hget(self._live, player)

    def games_of(self, player: str) -> list[Match]:
        return self._load(self._of_player_prefix + player, "s")

    def live_games(self) -> list[Match]:
        return self._load(self._live_ids, "z", "+inf")

    def overdue(self, cutoff: float) -> list[tuple[str, int]]:
        return [
            (match.game_id, match.round)
            for match in self._load(self._deadlines, "z", f"({cutoff!r}")
            if not match.is_over
        ]

    def _load(self, key: str, kind: str, upto: str = "") -> list[Match]:
        raws = self._matches_of(keys=[key], args=[self._game_prefix, kind, upto])
        return [Match.from_dict(json.loads(raw)) for raw in raws]


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
        return sorted(self._redis.smembers(self._by_user + user_id))

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
        self._pop = client.register_script(_HASH_POP)
        self._forget_queue = client.register_script(_FORGET_QUEUE)

    def add(self, name: str, drop: Drop) -> None:
        raw = json.dumps({"at": drop.at, "best_of": drop.queued_best_of})
        self._redis.hset(self._key, name, raw)

    def get(self, name: str) -> Drop | None:
        return _drop(self._redis.hget(self._key, name))

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


# KEYS: the lock. ARGV: token, ttl ms. 1 if this token holds it now. Idempotent: a retry after a
# lost reply (the first SET went through) finds its own token and succeeds.
_LOCK = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def lock_scripts(client: redis.Redis) -> tuple[Any, Any]:
    return client.register_script(_LOCK), client.register_script(_UNLOCK)


class SharedLock:
    """A reentrant lock held across the cluster: a local RLock (so a node's own tasks queue up
    cheaply) plus a Redis key set only if absent, with an expiry so a dead holder frees it.

    The game service holds one per game, and one for the lobby (pairing players): a match is
    read, changed and written back whole, and a lock is simpler to get right than compare-and-set
    everywhere. `scripts`: the take and release scripts, registered once for many locks."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        ttl_seconds: float = 30.0,
        wait_seconds: float = 30.0,
        scripts: tuple[Any, Any] | None = None,
    ):
        self._redis = client
        self._key = key
        self._ttl_ms = int(ttl_seconds * 1000)
        self._wait_seconds = wait_seconds
        self._local = threading.RLock()
        self._depth = 0
        self._token = ""
        self._take, self._unlock = scripts or lock_scripts(client)

    def __enter__(self) -> SharedLock:
        self._local.acquire()
        if self._depth == 0:
            try:
                self._acquire_shared()
            except BaseException:
                self._local.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                self._release_shared()
        finally:
            self._local.release()

    def _acquire_shared(self) -> None:
        token = secrets.token_hex(8)
        deadline = time.monotonic() + self._wait_seconds
        pause = 0.001
        while True:
            try:
                if self._take(keys=[self._key], args=[token, self._ttl_ms]):
                    self._token = token
                    return
            except LOST as exc:
                raise SharedStateUnavailable() from exc
            if time.monotonic() > deadline:
                raise SharedStateUnavailable("The server is busy: try again in a moment.")
            time.sleep(pause)  # green under eventlet
            pause = min(pause * 2, 0.02)

    def _release_shared(self) -> None:
        try:
            self._unlock(keys=[self._key], args=[self._token])
        except LOST:  # the key expires by itself
            log.warning("could not release %s: it will expire", self._key)


# ---------------------------------------------------------------- nodes


_FORGET_NODE = """
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[1], ARGV[1]) end
return 1
"""


@shared_state
class NodeRegistry:
    """Which nodes are alive: each refreshes `alive:<node>` (expiring) and is listed in `nodes`."""

    def __init__(self, client: redis.Redis, keys: Keys, node_id: str, ttl_seconds: float):
        self._redis = client
        self._keys = keys
        self.node_id = node_id
        self._ttl_ms = max(100, int(ttl_seconds * 1000))
        self._forget = client.register_script(_FORGET_NODE)

    def beat(self) -> bool:
        """Refresh this node's key; False if it had expired or vanished (Redis restarted, or
        this node stalled for longer than the TTL)."""
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._alive(self.node_id), "1", px=self._ttl_ms, get=True)
            pipe.sadd(self._keys("nodes"), self.node_id)
            previous, _ = pipe.execute()
        return previous is not None

    def dead_nodes(self) -> list[str]:
        nodes = sorted(self._redis.smembers(self._keys("nodes")) - {self.node_id})
        if not nodes:
            return []
        alive = self._redis.mget([self._alive(node) for node in nodes])
        return [node for node, flag in zip(nodes, alive, strict=True) if flag is None]

    def forget(self, node: str) -> None:
        """Unlist a dead node once it has no users left."""
        self._forget(keys=[self._keys("nodes"), self._keys.node_users(node)], args=[node])

    def leave(self) -> None:
        """A clean shutdown: stop being listed at once."""
        self._redis.delete(self._alive(self.node_id))

    def _alive(self, node: str) -> str:
        return self._keys("alive", node)


STRAY_CHECK_EVERY = 5  # ticks


class ClusterKeeper:
    """One task per node that keeps the shared state true (see the module docstring): the
    heartbeat, taking over a dead node's users, settling overdue rounds, and repairs."""

    def __init__(
        self,
        registry: NodeRegistry,
        directory: RedisDirectory,
        tokens: RedisTokens,
        chat: Any,  # rpschat.domain.chat.ChatService
        runtime: Any,
        ttl_seconds: float,
        games: Any = None,  # rpschat.domain.games.GameService
    ):
        self.registry = registry
        self.directory = directory
        self.tokens = tokens
        self.chat = chat
        self.games = games
        self.runtime = runtime
        self.tick = max(0.05, min(1.0, ttl_seconds / 4))
        self.stopped = False
        self._strays: dict[str, float] = {}  # users homed here that nobody here knows: since
        self._beats = 0

    def start(self) -> None:
        self.runtime.spawn(self._run)

    def stop(self) -> None:
        self.stopped = True
        try:
            self.registry.leave()
        except Refused:
            pass

    def _run(self) -> None:
        while not self.stopped:
            for step in (self.beat, self.reap_dead_nodes, self.settle_overdue):
                try:
                    step()
                except Refused as refusal:  # Redis is down: try again next tick
                    log.debug("keeper: %s", refusal.reason)
                except Exception:
                    log.exception("keeper step %s failed", step.__name__)
            self.runtime.sleep(self.tick)

    def beat(self) -> None:
        refreshed = self.registry.beat()
        if not refreshed and self._beats:  # Redis restarted empty, or this node stalled too long
            log.warning("node %s: heartbeat key was gone; restoring its users", self.node_id)
            self.restore_local_users()
        self._beats += 1
        if self._beats % STRAY_CHECK_EVERY == 0:
            self.release_strays()

    @property
    def node_id(self) -> str:
        return self.registry.node_id

    # ---- dead nodes --------------------------------------------------------------------------

    def reap_dead_nodes(self) -> int:
        """Take over the users of nodes whose heartbeat expired; return how many."""
        taken = 0
        for node in self.registry.dead_nodes():
            for user_id in self.directory.users_on(node):
                if self.directory.take_over(user_id, node):
                    log.info("node %s is dead: %s dropped", node, user_id)
                    self.chat.drop_orphan(user_id)
                    taken += 1
            self.registry.forget(node)
        return taken

    def settle_overdue(self) -> None:
        """Rounds and challenges past their deadline by more than a tick: their timers' node
        may be dead."""
        if self.games is not None:
            self.games.settle_overdue(self.runtime.now() - self.tick)

    # ---- repairs -----------------------------------------------------------------------------

    def restore_local_users(self) -> int:
        """Users connected here that Redis has lost track of: forgotten (it restarted empty:
        their name, connection and token go back) or taken over by a node that thought this one
        dead (the connection is attached again, so their grace period does not release them).
        A name someone else took meanwhile closes the connection."""
        conns = [c for c in list(self.chat.connections.values()) if c.user_id and not c.replaced]
        user_ids = [c.user_id for c in conns]
        homes, sids = self.directory.homes_of(user_ids), self.directory.sids_of(user_ids)
        restored = 0
        for conn, home, sid in zip(conns, homes, sids, strict=True):
            if home is None and conn.name is not None:
                restored += self._restore(conn)
            elif sid is None:
                self.directory.attach(conn.user_id, conn.sid)
                restored += 1
        return restored

    def _restore(self, conn: Any) -> int:
        try:
            self.directory.claim(conn.user_id, conn.name)
        except SharedStateUnavailable:
            raise
        except Refused:
            log.warning("%s lost the name %s while Redis was away", conn.sid, conn.name)
            self.chat.outbox.disconnect(conn.sid)
            return 0
        self.directory.attach(conn.user_id, conn.sid)
        if conn.token:
            self.tokens.restore(conn.token, conn.name)
        return 1

    def release_strays(self, min_age: float | None = None) -> int:
        """Users homed on this node with no connection or grace period here (a handler hit a
        Redis error halfway): released once they have stayed so for a while."""
        min_age = max(5.0, 4 * self.tick) if min_age is None else min_age
        now = time.monotonic()
        unknown = self.directory.users_on(self.node_id) - self.chat.local_users()
        self._strays = {user: self._strays.get(user, now) for user in unknown}
        released = 0
        for user_id, since in list(self._strays.items()):
            if now - since >= min_age:
                log.warning("releasing stray user %s", user_id)
                self.chat.release_user(user_id)
                del self._strays[user_id]
                released += 1
        return released


# ---------------------------------------------------------------- Socket.IO


# ---------------------------------------------------------------- wiring


class RedisState:
    """Everything a node keeps in Redis, opened from the settings (see rpschat/wiring.py)."""

    def __init__(self, url: str, prefix: str, token_ttl_seconds: float, node_ttl_seconds: float):
        self.client = connect(url)
        self.keys = Keys(prefix)
        self.node_id = new_node_id()
        self.node_ttl_seconds = max(0.2, node_ttl_seconds)
        self.directory = RedisDirectory(self.client, self.keys, self.node_id)
        self.tokens = RedisTokens(self.client, self.keys, token_ttl_seconds)
        self.limiter = RedisRateLimiter(self.client, self.keys)
        self.queue = RedisQueueStore(self.client, self.keys)
        self.challenges = RedisChallengeStore(self.client, self.keys)
        self.rematches = RedisRematchStore(self.client, self.keys)
        self.registry = NodeRegistry(self.client, self.keys, self.node_id, self.node_ttl_seconds)
        self.keeper: ClusterKeeper | None = None
        self._lock_scripts = lock_scripts(self.client)

    def lock(self, key: str) -> SharedLock:
        """The cluster-wide lock named `key` (a game's, the lobby's)."""
        return SharedLock(self.client, self.keys("lock", key), scripts=self._lock_scripts)

    def game_stores(self, finished_game_seconds: float) -> dict[str, Any]:
        """GameService's keyword arguments for shared games; finished games are kept as long
        as on a single node."""
        return {
            "store": RedisMatchStore(self.client, self.keys, finished_game_seconds),
            "queue_store": self.queue,
            "challenge_store": self.challenges,
            "rematch_store": self.rematches,
            "locks": KeyedLocks(self.lock),
            "spectator_store": RedisSpectatorStore(self.client, self.keys),
            "drop_store": RedisDropStore(self.client, self.keys),
            "expired_challenge_store": RedisExpiredChallenges(
                self.client, self.keys, EXPIRED_CHALLENGES_KEPT
            ),
        }

    @property
    def channel(self) -> str:
        """The Socket.IO message queue's channel: one per prefix, like the keys."""
        return self.keys("socketio")

    def start(self, chat: Any, runtime: Any, games: Any = None):
        """Join the cluster: beat and keep watch."""
        self.keeper = ClusterKeeper(
            self.registry, self.directory, self.tokens, chat, runtime, self.node_ttl_seconds, games
        )
        self.keeper.start()
        log.info("node %s on Redis (prefix %s)", self.node_id, self.keys.prefix)

    def close(self) -> None:
        if self.keeper is not None:
            self.keeper.stop()
