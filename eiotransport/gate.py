"""Every Engine.IO session bounded from its handshake, before Socket.IO sees anything of it.

python-socketio's limits (per-address cap, idle names) start at the Socket.IO CONNECT; a client
that opens Engine.IO sessions and never sends that CONNECT escaped all of them, as did one that
sends packets python-socketio can't decode or keep. `SessionGate` wraps python-socketio's three
Engine.IO handlers (`connect`, `message`, `disconnect`, through engineio's public `eio.on`):

- sessions per client address are capped, counted from the handshake (the address is the one
  `client_address` gives, so TRUST_PROXY's hops apply);
- a session that has not connected to a Socket.IO namespace within `connect_timeout` is closed;
- a long-polling session's queue is bounded in bytes (MAX_BACKLOG_BYTES, as WebSockets are): a
  client that answers heartbeats but never polls is closed instead of buffering every broadcast;
- binary packets are refused where no event takes binary data (`max_attachments=0`, this
  application), or else bounded: at most `max_attachments` attachments of at most
  `max_attachment_bytes` in all (python-socketio kept every attachment a packet announced, a
  million of them, until the last one came); a packet python-socketio fails to decode is
  refused too: the session is closed, with one log line per refused packet, rate-limited, not
  engineio's traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import eventlet.queue

from eiotransport import counters

log = logging.getLogger("eiotransport")

# Socket.IO packet types python-socketio would hold attachments for (BINARY_EVENT, BINARY_ACK)
BINARY_TYPES = ("5", "6")
LOG_BURST, LOG_PER_SECOND = 20, 5.0  # refused-packet log lines: a burst, then this rate


class RateLimitedLog:
    """One log line per call while the token bucket has tokens; the others are counted and
    reported with the next line that goes out."""

    def __init__(self, burst=LOG_BURST, per_second=LOG_PER_SECOND, clock=time.monotonic):
        self.burst, self.per_second, self.clock = burst, per_second, clock
        self.tokens, self.at, self.suppressed = float(burst), clock(), 0

    def __call__(self, msg: str, *args) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens < 1:
            self.suppressed += 1
            return
        self.tokens -= 1
        if self.suppressed:
            msg += " (%d more not logged)"
            args = (*args, self.suppressed)
            self.suppressed = 0
        log.info(msg, *args)


# Every refusal a client can cause at will (a bad packet, a broken frame, too many sessions)
# logs through this one limiter: an attacker who makes connections to break can't flood the log.
refusal_log = RateLimitedLog()


def packet_size(pkt) -> int:
    """An Engine.IO packet's encoded size, computed once for a packet a broadcast shares."""
    if pkt is None:
        return 0
    size = pkt.__dict__.get("eiotransport_size")
    if size is None:
        size = pkt.__dict__["eiotransport_size"] = len(pkt.encode())
    return size


class BoundedQueue(eventlet.queue.Queue):
    """A long-polling session's queue of packets, counted in bytes: past `limit`, the session
    is closed (by `on_overflow`, once) and nothing more is queued."""

    def __init__(self, limit: int, on_overflow: Callable[[], None]):
        super().__init__()
        self.limit = limit
        self.queued_bytes = 0
        self.on_overflow = on_overflow
        self.overflowed = False

    def put(self, item, block=True, timeout=None):
        if self.overflowed and item is not None:
            return
        size = packet_size(item)
        if item is not None and self.queued_bytes + size > self.limit:
            self.overflowed = True
            self.on_overflow()
            return
        self.queued_bytes += size
        super().put(item, block, timeout)

    def get(self, block=True, timeout=None):
        item = super().get(block, timeout)
        self.queued_bytes = max(0, self.queued_bytes - packet_size(item))
        return item


class SessionGate:
    def __init__(
        self,
        eio,
        *,
        address_of: Callable[[dict], str],
        per_address: int,
        connect_timeout: float,
        max_queue_bytes: int,
        max_attachments: int = 0,
        max_attachment_bytes: int = 0,
        is_connected: Callable[[str], bool],
        call_later: Callable,
        spawn: Callable,
    ):
        self.eio = eio
        self.address_of = address_of
        self.per_address = per_address  # 0: no cap
        self.connect_timeout = connect_timeout  # 0: none
        self.max_queue_bytes = max_queue_bytes
        self.max_attachments = max_attachments  # 0: binary packets refused
        self.max_attachment_bytes = max_attachment_bytes
        self.attachments: dict[str, list[int]] = {}  # eio sid -> [attachments due, bytes so far]
        self.is_connected = is_connected
        self.call_later = call_later
        self.spawn = spawn
        self.addresses: dict[str, str] = {}  # eio sid -> client address
        self.per_address_count: dict[str, int] = {}
        self.refusal_log = refusal_log
        self.refused = 0  # packets refused (tests, metrics)

    def install(self) -> SessionGate:
        eio = self.eio
        self._connect = eio.handlers["connect"]
        self._message = eio.handlers["message"]
        self._disconnect = eio.handlers["disconnect"]
        eio.on("connect", self.on_connect)
        eio.on("message", self.on_message)
        eio.on("disconnect", self.on_disconnect)
        return self

    # -- engineio's handlers

    def on_connect(self, sid: str, environ: dict):
        address = self.address_of(environ)
        count = self.per_address_count.get(address, 0)
        if self.per_address and count >= self.per_address:
            self.refusal_log("refused a session from %s: too many sessions", address)
            return False  # engineio answers 401 and forgets the session
        result = self._connect(sid, environ)
        if result is not None and result is not True:
            return result
        self.addresses[sid] = address
        self.per_address_count[address] = count + 1
        session = self.eio.sockets.get(sid)
        if session is not None and self.max_queue_bytes:
            self._bound_queue(session)
        if self.connect_timeout:
            self.call_later(self.connect_timeout, self._connect_expired, sid)
        return result

    def on_message(self, sid: str, data):
        session = self.eio.sockets.get(sid)
        if session is None or session.closed:
            return None  # closed by an earlier packet of the same POST
        refusal = self._check_binary(sid, data)
        if refusal:
            return self._refuse(sid, refusal)
        try:
            return self._message(sid, data)
        except Exception as exc:  # a packet python-socketio could not decode
            return self._refuse(sid, f"a malformed packet ({type(exc).__name__})")

    def on_disconnect(self, sid: str, reason=None):
        self.attachments.pop(sid, None)
        address = self.addresses.pop(sid, None)
        if address is not None:
            left = self.per_address_count.get(address, 1) - 1
            if left > 0:
                self.per_address_count[address] = left
            else:
                self.per_address_count.pop(address, None)
        return self._disconnect(sid, reason)

    # -- the rest

    def _check_binary(self, sid: str, data) -> str | None:
        """Why a packet is refused, if it is, as a binary packet or one of its attachments."""
        due = self.attachments.get(sid)
        if due is not None:  # python-socketio takes whatever comes next as an attachment
            due[1] += len(data)
            if due[1] > self.max_attachment_bytes:
                return "binary attachments over the size limit"
            due[0] -= 1
            if not due[0]:
                del self.attachments[sid]
            return None
        if isinstance(data, bytes):
            return "binary data that no packet announced"
        if data[:1] not in BINARY_TYPES:
            return None
        if not self.max_attachments:
            return "a binary packet (no event takes binary data)"
        count = data[1 : data.find("-")] if "-" in data else ""
        if not count.isdigit() or not 0 < int(count) <= self.max_attachments:
            return "a binary packet with too many attachments"
        self.attachments[sid] = [int(count), 0]
        return None

    def _refuse(self, sid: str, what: str) -> None:
        self.refused += 1
        self.refusal_log("%s from %s sent %s; closing", sid, self.addresses.get(sid, "?"), what)
        self.close(sid)

    def close(self, sid: str) -> None:
        """Close a session at once, whatever its transport (never waiting for its queue)."""
        sockets = self.eio.sockets
        session = sockets.get(sid)
        if session is not None and not session.closed:
            session.close(wait=False, abort=True, reason=self.eio.reason.TRANSPORT_ERROR)
        # Forgotten at once, as engineio's own disconnect() does: a closed session it still
        # knows makes the next long-polling POST fail with 500 (its _get_socket raises KeyError
        # there) instead of 400 "Invalid session".
        if sockets.get(sid) is session and session is not None:
            del sockets[sid]

    def _connect_expired(self, sid: str) -> None:
        if sid in self.addresses and not self.is_connected(sid):
            self.refusal_log(
                "%s from %s sent no Socket.IO CONNECT within %g s; closing",
                sid,
                self.addresses[sid],
                self.connect_timeout,
            )
            self.close(sid)

    def _bound_queue(self, session) -> None:
        """Long-polling's queue, bounded in bytes (a WebSocket's FrameWriter bounds its own
        backlog once the session upgrades, and the queue is then no longer used)."""
        sid = session.sid

        def overflow():
            log.info("disconnecting %s: it stopped polling (backlog over the limit)", sid)
            counters.slow_consumers_dropped.value += 1
            self.spawn(self.close, sid)  # not inside the broadcast that overflowed it

        bounded = BoundedQueue(self.max_queue_bytes, overflow)
        old = session.queue
        while not old.empty():  # the OPEN packet
            bounded.put(old.get_nowait())
            old.task_done()
        session.queue = bounded
