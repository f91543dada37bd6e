"""The TokenStore (domain/ports.py) shared by every node: one hash per user."""

from __future__ import annotations

import hmac
import secrets

from rpschat.domain.ports import TokenGrant, token_user
from rpschat.storage.common import split_token
from rpschat.storage.redis.client import Keys, redis, shared_state, texts

# KEYS: the user's index of token ids. ARGV: the tokens' key prefix. Deletes every token listed
# and the index.
_REVOKE_USER = """
for _, token_id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  redis.call('DEL', ARGV[1] .. token_id)
end
redis.call('DEL', KEYS[1])
return 1
"""

_RENAME_TOKEN = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'name', ARGV[1]) end
return 1
"""


@shared_state
class RedisTokens:
    """Tokens (see storage/memory/tokens.py): one hash per user, expiring TTL after last use."""

    def __init__(self, client: redis.Redis, keys: Keys, ttl_seconds: float):
        self._redis = client
        self._keys = keys
        self._ttl_ms = int(ttl_seconds * 1000)
        self._rename = client.register_script(_RENAME_TOKEN)
        self._revoke = client.register_script(_REVOKE_USER)

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
        secret, name = texts(self._redis.hmget(key, ["secret", "name"]))
        if secret is None or name is None or not hmac.compare_digest(secret, parts[1]):
            return None
        user_id = token_user(parts[0])
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.pexpire(key, self._ttl_ms)
            pipe.pexpire(self._keys("tokens_of", user_id), self._ttl_ms)  # outlives its tokens
            pipe.execute()
        return TokenGrant(user_id, name)

    def rename(self, user_id: str, name: str) -> None:
        self._rename(keys=[self._keys("token", user_id)], args=[name])

    def revoke_user(self, user_id: str) -> None:
        self._revoke(keys=[self._keys("tokens_of", user_id)], args=[self._keys("token", "")])

    def _store(self, user_id: str, secret: str, name: str) -> None:
        """`user_id`: the token's id (the user's, or a log-in's `<user id>_<login>`), listed
        in the user's index so that `revoke_user` finds it."""
        key = self._keys("token", user_id)
        index = self._keys("tokens_of", token_user(user_id))
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"secret": secret, "name": name})
            pipe.pexpire(key, self._ttl_ms)
            pipe.sadd(index, user_id)
            pipe.pexpire(index, self._ttl_ms)
            pipe.execute()
