"""The game's stores (domain/game/ports.py: MatchStore, SpectatorStore, DropStore,
ExpiredChallengeStore) shared by every node. Each method is one round trip (a command, a
pipeline or a Lua script), visible at its call site in the game service."""

from __future__ import annotations

import json
import time

from rpschat.domain.game.match import Match
from rpschat.domain.game.ports import Drop
from rpschat.storage.redis.client import (
    HASH_POP,
    Keys,
    redis,
    shared_state,
    text,
    text_set,
)
from rpschat.storage.redis.locks import LockLost, SharedLock, lock_scripts

# KEYS: the game, live game ids (a sorted set, by start order), live (player -> game id), a
# counter, round deadlines of live games (a sorted set), the game's lock, its wake-up list.
# ARGV: game id, snapshot, finished ttl ms, live flag ('1', '0', or 'new': only if neither player
# is in a live game, else 0), player's games key prefix, round deadline, lock token ('': no
# lock; else the write is refused with -1 if another holds the lock or none does: this holder
# lost it), players...
_MATCH_PUT = """
if ARGV[7] ~= '' and redis.call('GET', KEYS[6]) ~= ARGV[7] then return -1 end
local new = redis.call('EXISTS', KEYS[1]) == 0
local live = ARGV[4]
if live == 'new' then  -- a new game: only if neither player is in a live one
  for i = 8, #ARGV do
    if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 1 then return 0 end
  end
  live = '1'
end
if live == '1' then
  redis.call('SET', KEYS[1], ARGV[2])
  if new then redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), ARGV[1]) end
  redis.call('ZADD', KEYS[5], ARGV[6], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[5], ARGV[1])
end
for i = 8, #ARGV do
  if live == '1' then
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[1])
  elseif redis.call('HGET', KEYS[3], ARGV[i]) == ARGV[1] then
    redis.call('HDEL', KEYS[3], ARGV[i])
  end
  if new or live ~= '1' then
    redis.call('SADD', ARGV[5] .. ARGV[i], ARGV[1])
    redis.call('PEXPIRE', ARGV[5] .. ARGV[i], ARGV[3])
  end
end
return 1
"""
# KEYS: the game's lock, the game. ARGV: token, ttl ms. {1, the snapshot or nil} if this token
# holds the lock now (idempotent, as locks.py's), else 0: taking the lock reads the match too.
_LOCK_AND_GET = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, redis.call('GET', KEYS[2])}
"""
# KEYS: the game, live game ids, live, round deadlines. ARGV: game id, player's games prefix.
_MATCH_DELETE = """
local raw = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if raw then
  local match = cjson.decode(raw)
  local names = match['names'] or {}
  for _, id in ipairs(match['players']) do
    local player = names[id] or id  -- indexed by the name played under, as the queue is
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
    """The MatchStore (domain/game/ports.py): each match's `to_dict` snapshot under its own key,
    finished ones expiring after `finished_ttl_seconds` (the game service's
    `finished_game_seconds`), and the indexes its queries need: the live games in start order,
    their round deadlines, each player's live game and each player's kept games. Every method is
    one round trip, but for a game whose lock (`lock`) this node holds: its match was read as
    the lock was taken and `get` returns it (three round trips for a throw, not four: take and
    read, write, release). `put` writes at once, checking the lock is still this holder's: the
    domain tells players of a change after storing it, so a node that dies after an emit has
    stored what it told."""

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
        self._lock_and_get = client.register_script(_LOCK_AND_GET)
        self._lock_scripts = lock_scripts(client)
        self._held: dict[str, _Hold] = {}  # game id -> its match, while this node holds its lock

    def lock(self, game_id: str) -> MatchLock:
        return MatchLock(self, game_id)

    def get(self, game_id: str) -> Match | None:
        held = self._held.get(game_id)
        if held is not None:
            return held.read()
        raw = self._redis.get(self._game_prefix + game_id)
        return Match.from_dict(json.loads(raw)) if raw else None

    def create(self, match: Match) -> bool:
        return bool(self._store(match, "new"))

    def put(self, match: Match) -> None:
        held = self._held.get(match.game_id)
        live = "0" if match.is_over else "1"
        if held is None:
            self._store(match, live)
            return
        if self._store(match, live, held.token) == -1:
            raise LockLost(self._lock_key(match.game_id))
        held.match, held.raw = match, None

    def _store(self, match: Match, live: str, token: str = "") -> int:
        deadline = repr(match.round_deadline or 0.0)
        snapshot = json.dumps(match.to_dict())
        ttl, prefix = self._finished_ttl_ms, self._of_player_prefix
        args: list[str | int] = [match.game_id, snapshot, ttl, live, prefix]
        keys = [self._game_prefix + match.game_id, self._live_ids, self._live, self._started]
        lock = self._lock_key(match.game_id)
        keys += [self._deadlines, lock, lock + ":wake"]
        return self._put(keys=keys, args=[*args, deadline, token, *match.human_names()])

    def _lock_key(self, game_id: str) -> str:
        return self._keys("lock", "game", game_id)  # as RedisState.lock("game:<id>") names it

    def delete(self, game_id: str) -> None:
        held = self._held.get(game_id)
        if held is not None:
            held.match, held.raw = None, None
        keys = [self._game_prefix + game_id, self._live_ids, self._live, self._deadlines]
        self._delete(keys=keys, args=[game_id, self._of_player_prefix])

    def live_game_of(self, player: str) -> str | None:
        return text(self._redis.hget(self._live, player))

    def games_of(self, player: str) -> list[Match]:
        return self._load(self._of_player_prefix + player, "s")

    def live_games(self) -> list[Match]:
        return self._load(self._live_ids, "z", "+inf")

    def live_count(self) -> int:
        return self._redis.zcard(self._live_ids)

    def overdue(self, cutoff: float) -> list[tuple[str, int]]:
        return [
            (match.game_id, match.round)
            for match in self._load(self._deadlines, "z", f"({cutoff!r}")
            if not match.is_over
        ]

    def _load(self, key: str, kind: str, upto: str = "") -> list[Match]:
        raws = self._matches_of(keys=[key], args=[self._game_prefix, kind, upto])
        return [Match.from_dict(json.loads(raw)) for raw in raws]


class _Hold:
    """A game's match while this node holds the game's lock (with `token`): read once."""

    __slots__ = ("raw", "match", "token")

    def __init__(self, raw: str | None, token: str) -> None:
        self.raw = raw
        self.match: Match | None = None
        self.token = token

    def read(self) -> Match | None:
        if self.raw is not None:  # decoded on first use: a lock taken only to write reads none
            self.match = Match.from_dict(json.loads(self.raw))
            self.raw = None
        return self.match


class MatchLock(SharedLock):
    """A game's lock (the store's `lock`): taking it reads the match in the same script. A
    `put` while it is held is refused (`LockLost`) if the lock expired and was lost meanwhile
    (a holder stalled for longer than its TTL): another holder may have changed the match."""

    def __init__(self, store: RedisMatchStore, game_id: str) -> None:
        super().__init__(store._redis, store._lock_key(game_id), scripts=store._lock_scripts)
        self._store = store
        self._game_id = game_id

    def _try_take(self, token: str) -> bool:
        game = self._store._game_prefix + self._game_id
        reply = self._store._lock_and_get(keys=[self._key, game], args=[token, self._ttl_ms])
        if not reply:
            return False
        self._store._held[self._game_id] = _Hold(reply[1], token)
        return True

    def _release_shared(self) -> None:
        self._store._held.pop(self._game_id, None)
        super()._release_shared()


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
