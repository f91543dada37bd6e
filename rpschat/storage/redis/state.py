"""Everything a node keeps in Redis, opened from the settings (see rpschat/composition.py)."""

from __future__ import annotations

from typing import Any

from rpschat.domain.game.ports import EXPIRED_CHALLENGES_KEPT
from rpschat.domain.ports import Runtime
from rpschat.storage.redis.arenas import RedisArenas
from rpschat.storage.redis.client import Keys, connect, new_node_id
from rpschat.storage.redis.directory import RedisDirectory
from rpschat.storage.redis.games import (
    RedisDropStore,
    RedisExpiredChallenges,
    RedisSpectatorStore,
)
from rpschat.storage.redis.invites import RedisInvites
from rpschat.storage.redis.locks import SharedLock, lock_scripts
from rpschat.storage.redis.matches import OwnedMatchStore
from rpschat.storage.redis.matchmaking import (
    RedisChallengeStore,
    RedisQueueStore,
    RedisRematchStore,
)
from rpschat.storage.redis.nodes import NodeRegistry
from rpschat.storage.redis.owners import NodeLink
from rpschat.storage.redis.ratelimit import RedisRateLimiter
from rpschat.storage.redis.seeks import RedisSeeks
from rpschat.storage.redis.tokens import RedisTokens


class RedisState:
    """Everything a node keeps in Redis, opened from the settings (see rpschat/composition.py)."""

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
        self.invites = RedisInvites(self.client, self.keys)
        self.arenas = RedisArenas(self.client, self.keys)
        self.registry = NodeRegistry(self.client, self.keys, self.node_id, self.node_ttl_seconds)
        self._lock_scripts = lock_scripts(self.client)
        self.matches: OwnedMatchStore | None = None  # once `game_stores` made them
        self.link: NodeLink | None = None

    def lock(self, key: str) -> SharedLock:
        """The cluster-wide lock named `key` (a game's, the lobby's)."""
        return SharedLock(self.client, self.keys("lock", key), scripts=self._lock_scripts)

    def game_stores(self, finished_game_seconds: float, runtime: Runtime) -> dict[str, Any]:
        """The game's live state, as `GameStores` fields: each game its owner's, in its memory,
        with what the other nodes need of it in Redis (matches.py) and the link to the owners
        (owners.py); the lobby's state shared by every node (its lock: `lock`). Finished games
        are kept as long as on a single node."""
        self.matches = OwnedMatchStore(
            self.client, self.keys, self.node_id, runtime, finished_game_seconds
        )
        self.link = NodeLink(self.client, self.keys, self.node_id, runtime)
        return {
            "matches": self.matches,
            "link": self.link,
            "queue": self.queue,
            "challenges": self.challenges,
            "rematches": self.rematches,
            "spectators": RedisSpectatorStore(self.client, self.keys),
            "drops": RedisDropStore(self.client, self.keys),
            "expired_challenges": RedisExpiredChallenges(
                self.client, self.keys, EXPIRED_CHALLENGES_KEPT
            ),
            "seeks": RedisSeeks(self.client, self.keys),
        }

    @property
    def channel(self) -> str:
        """The Socket.IO message queue's channel: one per prefix, like the keys."""
        return self.keys("socketio")
