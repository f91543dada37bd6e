"""Engine.IO heartbeats for every connection from one task, instead of a green thread each.

python-engineio starts a green thread per connection after every pong, to sleep `ping_interval`
and send the next ping: with thousands of idle clients that is thousands of parked green
threads, each with its own saved stack. Here one task walks two queues of deadlines. Every
connection waits the same `ping_interval` for its ping and the same `ping_timeout` for its pong,
so appending `now + delay` keeps each queue sorted: a deque is the whole timer wheel, and adding
or taking an entry is O(1).

`PingSchedule` is the clock-free bookkeeping (tested alone); `Pinger` drives it under eventlet
and speaks to engineio's Socket.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from engineio import packet
from engineio.socket import Socket

log = logging.getLogger("eiotransport")


class PingSchedule:
    """When each connection is due a ping, and when an unanswered ping runs out."""

    __slots__ = ("interval", "timeout", "_pings", "_pongs")

    def __init__(self, interval: float, timeout: float):
        self.interval = interval
        self.timeout = timeout
        self._pings: deque = deque()  # (due, conn)
        self._pongs: deque = deque()  # (deadline, conn, ping_id)

    def __len__(self) -> int:
        return len(self._pings) + len(self._pongs)

    def ping_later(self, conn: Any, now: float) -> None:
        """`conn` answered (or just opened): ping it again in `interval`."""
        self._pings.append((now + self.interval, conn))

    def expect_pong(self, conn: Any, ping_id: Any, now: float) -> None:
        """A ping went out: check in `timeout` whether it is still the unanswered one."""
        self._pongs.append((now + self.timeout, conn, ping_id))

    def due(self, now: float) -> tuple[list, list]:
        """Connections to ping now, and (conn, ping_id) pairs whose pong is overdue."""
        pings, expired = [], []
        while self._pings and self._pings[0][0] <= now:
            pings.append(self._pings.popleft()[1])
        while self._pongs and self._pongs[0][0] <= now:
            _, conn, ping_id = self._pongs.popleft()
            expired.append((conn, ping_id))
        return pings, expired

    def next_deadline(self) -> float | None:
        heads = [q[0][0] for q in (self._pings, self._pongs) if q]
        return min(heads) if heads else None


class Pinger:
    """Sends every engineio Socket of one server its pings and closes those that stop answering.

    Keeps python-engineio's rules: a socket is pinged `ping_interval` after its last pong (after
    the handshake for the first one); `socket.last_ping` holds the time of the unanswered ping,
    so engineio's own `check_ping_timeout` still works; a socket whose ping goes unanswered for
    `ping_timeout` is closed with reason PING_TIMEOUT."""

    # Seconds: deadlines this close together are handled in one wake-up; at most a hundredth of
    # the heartbeat, so that a short one (300/200 ms) is not kept 50 ms late.
    RESOLUTION = 0.05

    def __init__(self, server, spawn: Callable, event_factory: Callable, clock=time.monotonic):
        self.server = server
        self.schedule = PingSchedule(server.ping_interval, server.ping_timeout)
        self._spawn = spawn
        self._clock = clock
        self._wake = event_factory()
        self.resolution = min(
            self.RESOLUTION, server.ping_interval / 100, server.ping_timeout / 100
        )
        self._running = False
        self._until: float | None = None  # what the task sleeps towards; None: no deadline

    def add(self, sock) -> None:
        """Ping `sock` in one interval (engineio calls this after the handshake and each pong)."""
        now = self._clock()
        self.schedule.ping_later(sock, now)
        if not self._running:
            self._running = True
            self._spawn(self._run)
        elif self._until is None or now + self.schedule.interval < self._until:
            self._wake.set()  # the new deadline is earlier than the one the task waits for

    def _run(self) -> None:
        while True:
            self._until = self.schedule.next_deadline()
            self._wake.clear()
            if self._until is None:
                self._wake.wait()
            else:
                self._wake.wait(max(self._until - self._clock(), self.resolution))
            try:
                self.tick(self._clock())
            except Exception:  # every client's heartbeat depends on this task going on
                log.exception("pinger: tick failed")

    def tick(self, now: float) -> None:
        pings, expired = self.schedule.due(now)
        for sock in pings:
            if sock.closing or sock.closed:
                self._forget(sock)
                continue
            sock.last_ping = ping_id = time.time()
            self.schedule.expect_pong(sock, ping_id, now)
            try:
                sock.send(packet.Packet(packet.PING))
            except Exception:  # a socket closing under us; its own path cleans it up
                log.debug("pinger: ping to %s failed", sock.sid, exc_info=True)
        for sock, ping_id in expired:
            if sock.closed:
                self._forget(sock)
            elif sock.last_ping == ping_id and not sock.closing:
                self._time_out(sock)

    def _time_out(self, sock) -> None:
        server = self.server
        server.logger.info("%s: Client is gone, closing socket", sock.sid)
        try:
            # The same call as engineio's check_ping_timeout makes (whose CLOSE packet its own
            # send() then withholds, the ping being overdue): the client's socket is closed.
            sock.close(wait=False, abort=False, reason=server.reason.PING_TIMEOUT)
        except Exception:
            log.exception("pinger: closing %s failed", sock.sid)
        self._forget(sock)

    def _forget(self, sock) -> None:
        """Drop a closed socket from engineio's table. Every socket passes through the schedule
        at least once a heartbeat, so this also does the reaping engineio's per-server service
        task did (a polling client that closed and never came back), and that task, which
        walked all sockets a few hundred times a second, is not needed."""
        sockets = self.server.sockets
        if sockets.get(sock.sid) is sock:
            del sockets[sock.sid]


ENGINEIO_SCHEDULE_PING = Socket.schedule_ping  # read at import, before install() replaces it


def schedule_ping(self) -> None:
    """engineio Socket.schedule_ping, on the server's shared Pinger (see install())."""
    transport = self.server.__dict__.get("eiotransport")
    if transport is None or transport.pinger is None:
        ENGINEIO_SCHEDULE_PING(self)
    elif self.last_ping:  # only once the previous ping cycle has completed, as engineio does
        self.last_ping = None
        transport.pinger.add(self)
