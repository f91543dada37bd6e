"""Invites (game/invites.py's InviteStore) shared by every node: one hash of invites by code
(a take is a single winner's pop, as for challenges), and why a code ended, one key each with
its own expiry."""

from __future__ import annotations

import json

import redis

from rpschat.domain.game.invites import Invite
from rpschat.storage.redis.client import HASH_POP, Keys, shared_state, text, texts


@shared_state
class RedisInvites:
    def __init__(self, client: redis.Redis, keys: Keys):
        self._redis = client
        self._key = keys("invites")
        self._ended_prefix = keys("invites", "ended") + ":"
        self._pop = client.register_script(HASH_POP)

    def add(self, invite: Invite) -> None:
        self._redis.hset(self._key, invite.code, json.dumps(invite.to_dict()))

    def get(self, code: str) -> Invite | None:
        return _invite(text(self._redis.hget(self._key, code)))

    def take(self, code: str) -> Invite | None:
        return _invite(self._pop(keys=[self._key], args=[code]))

    def all(self) -> list[Invite]:
        return [Invite.from_dict(json.loads(raw)) for raw in texts(self._redis.hvals(self._key))]

    def end(self, code: str, reason: str, keep_seconds: float) -> None:
        self._redis.set(self._ended_prefix + code, reason, ex=max(1, int(keep_seconds)))

    def ended(self, code: str) -> str | None:
        return text(self._redis.get(self._ended_prefix + code))


def _invite(raw: str | None) -> Invite | None:
    return Invite.from_dict(json.loads(raw)) if raw else None
