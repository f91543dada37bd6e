"""Which nodes are alive (their heartbeat keys)."""

from __future__ import annotations

from rpschat.storage.redis.client import Keys, redis, shared_state, text_set

# KEYS: nodes, the node's users, its games. ARGV: node.
_FORGET_NODE = """
if redis.call('SCARD', KEYS[2]) == 0 and redis.call('SCARD', KEYS[3]) == 0 then
  redis.call('SREM', KEYS[1], ARGV[1])
end
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
        nodes = sorted(text_set(self._redis.smembers(self._keys("nodes"))) - {self.node_id})
        if not nodes:
            return []
        alive = self._redis.mget([self._alive(node) for node in nodes])
        return [node for node, flag in zip(nodes, alive, strict=True) if flag is None]

    def forget(self, node: str) -> None:
        """Unlist a dead node once it has no users and no games left."""
        keys = [self._keys("nodes"), self._keys.node_users(node), self._keys("owned", node)]
        self._forget(keys=keys, args=[node])

    def leave(self) -> None:
        """A clean shutdown: stop being listed at once."""
        self._redis.delete(self._alive(self.node_id))

    def _alive(self, node: str) -> str:
        return self._keys("alive", node)
