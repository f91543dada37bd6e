"""The Socket.IO message queue between nodes: python-socketio's Redis manager, subclassed.

Passed to Flask-SocketIO as `client_manager=` with this deployment's `channel=`. It adds two
things to `socketio.RedisManager`, each in an override that says why:
- every lobby message this node delivers to its own sockets, from any node, is reported to
  `on_lobby_message` (the chat's watermark, for an exact replay: see docs/protocol.md), and
  every direct message delivered to a user's DM room to `on_dm` (the DMs' watermark);
- a blocking connection pool, so a burst of publishes waits for a connection instead of failing;
- after losing Redis, the listener retries every few seconds, not with python-socketio's backoff
  to a minute, so the node is subscribed (and /readyz 200) again soon after Redis is back;
- publishes leave in order from one task, pipelined, instead of one blocking round trip inside
  every emit (see `_publish`).
`initialize()` may be called at start-up (the node then listens on its channel before its first
client) and is idempotent: python-socketio calls it again at the first connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import redis
import socketio

from rpschat.domain.ports import LOBBY

QUEUE_CONNECTIONS = 200
# The listener's longest pause between attempts to reach Redis again (python-socketio: 60 s).
RESUBSCRIBE_MAX_SECONDS = 2.0
POOL_WAIT_SECONDS = 30  # a burst (a join storm) waits this long for a connection


class QueueManager(socketio.RedisManager):
    connected: bool  # python-socketio's: whether `redis` is connected

    def __init__(self, url: str, channel: str):
        super().__init__(url, channel=channel)
        self.on_lobby_message: Callable[[int], None] = lambda message_id: None
        self.on_dm: Callable[[int], None] = lambda message_id: None
        self._listening = False
        self._outgoing: list[str] = []  # encoded messages waiting for the publisher, in order
        self._publishing = False

    def initialize(self) -> None:
        if self._listening:
            return
        self._listening = True
        super().initialize()

    # python-socketio delivers every emit, local or from another node, through this (private)
    # method and offers no public hook on delivery; overriding it here replaces no instance
    # attribute and keeps the library's behaviour: deliver first, then report.
    def _handle_emit(self, message: dict) -> None:
        super()._handle_emit(message)
        for message_id in _lobby_message_ids(message):
            self.on_lobby_message(message_id)
        for message_id in _dm_ids(message):
            self.on_dm(message_id)

    # python-socketio publishes each emit with a blocking PUBLISH inside `emit` (this private
    # method). The emitting task then waits a Redis round trip per emit, and under eventlet that
    # wait ends the event loop's pass: the frames of every emit were written (one `send` per
    # recipient) before the next client packet was read. Measured with one node and 200 clients
    # (10 senders x 100 messages): ~1.4 frames per `send` against many without Redis, and 3-5x
    # the server CPU per delivery. Here an emit appends its message and returns (this node's own
    # sockets have it already: PubSubManager.emit delivers locally first), and one publisher
    # task sends whatever is waiting, in order, in one pipeline: frames batch as they do without
    # Redis, and a burst of N emits costs one round trip instead of N. Order is kept (one
    # queue, one task; room joins and leaves for other nodes' sockets go through it too).
    def _publish(self, data) -> None:
        self._outgoing.append(self.json.dumps(data))
        if not self._publishing:
            self._publishing = True
            self.server.start_background_task(self._publish_waiting)

    def _publish_waiting(self) -> None:
        try:
            while self._outgoing:
                batch, self._outgoing = self._outgoing, []
                self._publish_batch(batch)
        finally:
            self._publishing = False
            if self._outgoing:  # appended after the loop's last look
                self._publishing = True
                self.server.start_background_task(self._publish_waiting)

    def _publish_batch(self, batch: list[str]) -> None:
        for retries_left in (1, 0):  # as python-socketio: two attempts, then given up
            try:
                if not self.connected:
                    self._redis_connect()
                with self.redis.pipeline(transaction=False) as pipe:
                    for raw in batch:
                        pipe.publish(self.channel, raw)
                    pipe.execute()
                return
            except Exception as exc:
                self._get_logger().error(
                    "Cannot publish to redis... %s",
                    "retrying" if retries_left else f"giving up {len(batch)} messages",
                    extra={"redis_exception": str(exc)},
                )
                if retries_left:
                    self.connected = False

    def flush_publishes(self, timeout: float = 5.0) -> None:
        """Return once what was emitted so far is published (or `timeout` passed): what is
        sent after it on another channel follows it."""
        deadline = time.monotonic() + timeout
        while (self._outgoing or self._publishing) and time.monotonic() < deadline:
            self.server.sleep(0.001)

    # The connection is made in this (private) method; `redis_options` reaches only
    # `Redis.from_url`, which cannot choose the pool class. python-socketio's default pool
    # refuses a command when 100 are under way ("Too many connections"): in a burst of emits (a
    # join storm) publishes failed, and the retry replaced the subscription the listener was
    # reading. With a blocking pool a publisher waits for a connection instead.
    def _redis_connect(self) -> None:
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            super()._redis_connect()  # Sentinel and others: as python-socketio makes them
            return
        # A late reply is no failure: python-socketio would publish the emit again.
        options = {"socket_timeout": 30, "socket_connect_timeout": 5, **self.redis_options}
        pool = redis.BlockingConnectionPool.from_url(
            self.redis_url, max_connections=QUEUE_CONNECTIONS, timeout=POOL_WAIT_SECONDS, **options
        )
        self.redis = redis.Redis(connection_pool=pool)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True

    # python-socketio's own loop (a private generator, no option for it) doubles its pause up
    # to 60 s: after a Redis outage of a minute this node would keep missing every other node's
    # emits for up to a minute more. The same loop, its pause from 0.5 s capped at 2 s.
    def _redis_listen_with_retries(self):
        retry_sleep = 0.5
        while True:
            try:
                self._redis_connect()
                self.pubsub.subscribe(self.channel)
                retry_sleep = 0.5
                yield from self.pubsub.listen()
            except Exception as exc:
                self._get_logger().error(
                    "Cannot receive from redis... retrying in %s secs",
                    retry_sleep,
                    extra={"redis_exception": str(exc)},
                )
                time.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, RESUBSCRIBE_MAX_SECONDS)


def _lobby_message_ids(message: dict) -> Iterable[int]:
    if message.get("event") != "message" or message.get("room") != LOBBY:
        return ()
    data = message.get("data")
    payload = data[0] if isinstance(data, list) and data else data
    message_id = payload.get("id") if isinstance(payload, dict) else None
    return (message_id,) if isinstance(message_id, int) else ()


def _dm_ids(message: dict) -> Iterable[int]:
    """A DM sent to DM rooms (`dm:<user_id>`), not a replay sent to one connection."""
    if message.get("event") != "dm":
        return ()
    rooms = message.get("room")
    rooms = rooms if isinstance(rooms, list) else [rooms]
    if not any(isinstance(room, str) and room.startswith("dm:") for room in rooms):
        return ()
    data = message.get("data")
    payload = data[0] if isinstance(data, list) and data else data
    message_id = payload.get("id") if isinstance(payload, dict) else None
    return (message_id,) if isinstance(message_id, int) else ()
