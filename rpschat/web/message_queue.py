"""The Socket.IO message queue between nodes (python-socketio's Redis manager), tuned.

Kept apart from rpschat/storage/redis: this part knows python-socketio's manager, the
shared state does not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import redis

from rpschat.domain.ports import LOBBY
from rpschat.storage.redis.client import POOL_WAIT_SECONDS


def share_socketio(manager: Any, channel: str, on_lobby_message: Callable[[int], None]) -> None:
    """Point the Socket.IO message queue at this deployment's channel, and report every lobby
    message this node delivers to its own sockets (for an exact replay, see docs/protocol.md).

    python-socketio's pub/sub manager delivers every emit, local or from another node, through
    `_handle_emit`; the channel must be set before the first publish or subscribe."""
    manager.channel = channel
    deliver = getattr(manager, "_handle_emit", None)
    if deliver is None:  # no message queue: emits are delivered here, synchronously
        return
    _use_a_blocking_pool(manager)

    def deliver_and_note(message: dict) -> None:
        deliver(message)
        for message_id in _lobby_message_ids(message):
            on_lobby_message(message_id)

    manager._handle_emit = deliver_and_note


QUEUE_CONNECTIONS = 200


def _use_a_blocking_pool(manager: Any) -> None:
    """python-socketio's Redis manager uses redis-py's default pool, which refuses a command
    when 100 are under way ("Too many connections"): in a burst of emits (a join storm) publishes
    failed, and the retry replaced the subscription the listener was reading. With a blocking
    pool a publisher waits for a connection instead."""
    url = getattr(manager, "redis_url", "")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return  # Sentinel and others: left as python-socketio makes them

    def redis_connect() -> None:
        # A late reply is no failure: python-socketio would publish the emit again.
        options = {"socket_timeout": 30, "socket_connect_timeout": 5, **manager.redis_options}
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=QUEUE_CONNECTIONS, timeout=POOL_WAIT_SECONDS, **options
        )
        manager.redis = redis.Redis(connection_pool=pool)
        manager.pubsub = manager.redis.pubsub(ignore_subscribe_messages=True)
        manager.connected = True

    manager._redis_connect = redis_connect


def _lobby_message_ids(message: dict) -> Iterable[int]:
    if message.get("event") != "message" or message.get("room") != LOBBY:
        return ()
    data = message.get("data")
    payload = data[0] if isinstance(data, list) and data else data
    message_id = payload.get("id") if isinstance(payload, dict) else None
    return (message_id,) if isinstance(message_id, int) else ()
