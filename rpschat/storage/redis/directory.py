"""The Directory (domain/ports.py) shared by every node: names online, who holds them, each
user's connection and node (`home`)."""

from __future__ import annotations

from typing import cast

from rpschat.domain.ports import name_taken
from rpschat.domain.text import name_key
from rpschat.storage.confusables import look_alike_key
from rpschat.storage.redis.client import Keys, redis, shared_state, text, text_set, texts

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
redis.call('DEL', ARGV[2] .. ':slots:' .. ARGV[1])
redis.call('HDEL', ARGV[2] .. ':addresses', ARGV[1])
local home = redis.call('HGET', KEYS[5], ARGV[1])
if home then
  redis.call('SREM', ARGV[2] .. ':node:' .. home .. ':users', ARGV[1])
  redis.call('HDEL', KEYS[5], ARGV[1])
end
return name or ''
"""

# KEYS: sids, home, the user's slots. ARGV: user, sid, node, prefix, slot.
# Returns the sid replaced in that slot or ''. `sids` holds the latest connection of each user.
_ATTACH = """
local old = redis.call('HGET', KEYS[3], ARGV[5])
redis.call('HSET', KEYS[3], ARGV[5], ARGV[2])
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

# KEYS: sids, the user's slots, home. ARGV: user, sid, node, prefix. Forgets the sid if it is
# one of the user's; 1 if it was the last one, and then the user's home is this node: its grace
# period runs here (a user on two devices may lose its last one on another node than its home).
_DETACH = """
local slots = redis.call('HGETALL', KEYS[2])
local found = false
for i = 1, #slots, 2 do
  if slots[i + 1] == ARGV[2] then
    redis.call('HDEL', KEYS[2], slots[i])
    found = true
  end
end
if not found then return 0 end
local left = redis.call('HVALS', KEYS[2])
if #left > 0 then
  if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
    redis.call('HSET', KEYS[1], ARGV[1], left[#left])
  end
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
local home = redis.call('HGET', KEYS[3], ARGV[1])
if home and home ~= ARGV[3] then
  redis.call('SREM', ARGV[4] .. ':node:' .. home .. ':users', ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  redis.call('SADD', ARGV[4] .. ':node:' .. ARGV[3] .. ':users', ARGV[1])
end
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
    """The Directory (see storage/memory/directory.py) for all nodes, plus each user's node."""

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
        args = [user_id, name, look_alike_key(name), self.node_id, self._keys.prefix]
        result = self._claim(keys=keys, args=args)
        if not result[0]:
            raise name_taken(name)
        return result[1] or None

    def release(self, user_id: str) -> str | None:
        keys = [self._names, self._users, self._name_keys, self._sids, self._home]
        return self._release(keys=keys, args=[user_id, self._keys.prefix]) or None

    def name_of(self, user_id: str) -> str | None:
        return text(self._redis.hget(self._users, user_id))

    def user_of(self, name: str) -> str | None:
        return text(self._redis.hget(self._names, look_alike_key(name)))

    def names(self) -> list[str]:
        return sorted(texts(self._redis.hvals(self._users)), key=name_key)

    def count(self) -> int:
        return self._redis.hlen(self._users)

    def attach(self, user_id: str, sid: str, slot: str | None = None) -> str | None:
        args = [user_id, sid, self.node_id, self._keys.prefix, slot or user_id]
        keys = [self._sids, self._home, self._keys("slots", user_id)]
        return self._attach(keys=keys, args=args) or None

    def detach(self, user_id: str, sid: str) -> bool:
        keys = [self._sids, self._keys("slots", user_id), self._home]
        args = [user_id, sid, self.node_id, self._keys.prefix]
        return bool(self._detach(keys=keys, args=args))

    def sid_of(self, user_id: str) -> str | None:
        return text(self._redis.hget(self._sids, user_id))

    def is_home(self, user_id: str) -> bool:
        return self._redis.hget(self._home, user_id) == self.node_id

    def connections_of(self, user_id: str) -> list[str]:
        return texts(self._redis.hvals(self._keys("slots", user_id)))

    def note_address(self, user_id: str, address: str) -> None:
        self._redis.hset(self._keys("addresses"), user_id, address)

    def address_of(self, user_id: str) -> str | None:
        return text(self._redis.hget(self._keys("addresses"), user_id))

    # ---- nodes -------------------------------------------------------------------------------

    def homes_of(self, user_ids: list[str]) -> list[str | None]:
        return cast("list[str | None]", self._redis.hmget(self._home, user_ids)) if user_ids else []

    def sids_of(self, user_ids: list[str]) -> list[str | None]:
        return cast("list[str | None]", self._redis.hmget(self._sids, user_ids)) if user_ids else []

    def users_on(self, node: str) -> set[str]:
        return text_set(self._redis.smembers(self._keys.node_users(node)))

    def take_over(self, user_id: str, dead_node: str) -> bool:
        """Move a user of a dead node to this one; True for exactly one taker."""
        args = [user_id, dead_node, self.node_id, self._keys.prefix]
        return bool(self._take_over(keys=[self._home], args=args))
