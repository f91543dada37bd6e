"""The tokens that let a user resume (the domain's `TokenStore`), in this process;
storage/sql/tokens.py keeps them in the database, storage/redis/tokens.py for every node."""

from __future__ import annotations

import hmac
import secrets
import time

from rpschat.domain.ports import TokenGrant, token_user
from rpschat.storage.common import split_token


class MemoryTokens:
    def __init__(self, ttl_seconds: float, clock=time.time) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        # user_id -> (secret, name, expires_at)
        self._grants: dict[str, tuple[str, str, float]] = {}

    def issue(self, user_id: str, name: str) -> str:
        secret = secrets.token_urlsafe(32)
        self._grants[user_id] = (secret, name, self._clock() + self._ttl)
        return f"{user_id}.{secret}"

    def resolve(self, token: object) -> TokenGrant | None:
        parts = split_token(token)
        if parts is None:
            return None
        token_id, given = parts
        grant = self._grants.get(token_id)
        if grant is None:
            return None
        secret, name, expires_at = grant
        now = self._clock()
        if not hmac.compare_digest(secret, given):
            return None
        if expires_at <= now:
            del self._grants[token_id]
            return None
        self._grants[token_id] = (secret, name, now + self._ttl)
        return TokenGrant(token_user(token_id), name)

    def rename(self, user_id: str, name: str) -> None:
        grant = self._grants.get(user_id)
        if grant is not None:
            self._grants[user_id] = (grant[0], name, grant[2])

    def revoke_user(self, user_id: str) -> None:
        for token_id in [t for t in self._grants if token_user(t) == user_id]:
            del self._grants[token_id]
