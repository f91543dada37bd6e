"""eventlet's WSGI server, able to hand a request's connection over to the application.

Under eventlet's WSGI server every WebSocket keeps the green thread that served its HTTP
upgrade request, parked in a blocking read for the life of the connection, together with
everything that request built: the HTTP protocol object with its 8 KiB read and 16 KiB write
buffers, the parsed headers, the WSGI environ, eventlet's WebSocket object. With 10,000 idle
clients that was most of the server's memory. Here a request can take its socket out of the
server (`Handover`, in the environ under HANDOVER) and end; websocket.py does that for
WebSockets. `serve` counts handed-over sockets against `max_connections`.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler

import eventlet
import eventlet.hubs
import eventlet.wsgi

log = logging.getLogger("rpschat.transport")

HANDOVER = "rpschat.handover"  # environ key: how a request hands its connection over


class _HandedOver:
    """Stands in for a socket eventlet's server no longer owns, so its clean-up is a no-op."""

    def shutdown(self, *args):
        pass

    def close(self):
        pass


HANDED_OVER = _HandedOver()


class ConnectionPool(eventlet.GreenPool):
    """eventlet's GreenPool, counting connections rather than green threads: a request that
    hands its connection over passes its slot on to it, and the slot is freed when that
    connection closes. So `size` bounds HTTP requests and idle WebSockets together, and at the
    limit the server stops accepting, as eventlet's pool does."""

    def __init__(self, size: int):
        super().__init__(size)
        self._passed_on: set = set()

    def pass_on_slot(self) -> None:
        """From a request's green thread: its slot outlives the thread."""
        self._passed_on.add(eventlet.getcurrent())

    def release_slot(self) -> None:
        self.sem.release()

    def _spawn_done(self, coro):
        super()._spawn_done(coro)  # releases the thread's slot...
        if coro in self._passed_on:
            self._passed_on.discard(coro)
            self.sem.acquire(blocking=False)  # ...which is taken back: nothing ran in between


class Handover:
    """Lets the application take a request's socket from eventlet's WSGI server."""

    __slots__ = ("_conn_state", "pool")

    def __init__(self, conn_state: list, pool: ConnectionPool):
        self._conn_state = conn_state  # eventlet's [address, socket, state] for the connection
        self.pool = pool

    def take(self):
        """The client's OS socket, out of eventlet's wrapper: now the caller's to close, and
        then to give its slot back with `pool.release_slot()`."""
        self.pool.pass_on_slot()
        green, self._conn_state[1] = self._conn_state[1], HANDED_OVER
        raw = green.fd
        # detach(): the wrapper, collected with the request, must not close the descriptor
        sock = type(raw)(fileno=raw.detach())
        sock.setblocking(False)
        return sock


class HandoverHttpProtocol(eventlet.wsgi.HttpProtocol):
    """eventlet's HTTP/1.1 protocol, able to hand its connection over (see Handover), with a
    deadline for each request's line and headers: from the moment the server waits for a
    request (a new connection, or the next request on a kept-alive one) to the end of its
    headers. eventlet has none: a client that sends half a request, or a byte now and then,
    held its connection, and a slot of MAX_CONNECTIONS, for ever."""

    pool = None  # the server's ConnectionPool; set by serve()
    header_seconds = 0.0  # 0: no deadline; set by serve()
    _header_timer = None
    _header_expired = False

    def _read_request_line(self):
        if self.header_seconds:
            hub = eventlet.hubs.get_hub()
            self._header_expired = False
            self._header_timer = hub.schedule_call_global(self.header_seconds, self._too_slow)
        line = super()._read_request_line()
        if not line:
            self._stop_header_timer()
        return line

    def parse_request(self):
        try:
            parsed = super().parse_request()
        finally:
            self._stop_header_timer()
        if self._header_expired:  # what was read before the deadline cut it short
            self.close_connection = True
            return False
        return parsed

    def _too_slow(self):
        """In the hub: end the connection; the request's green thread reads end of stream."""
        self._header_timer = None
        self._header_expired = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _stop_header_timer(self):
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def get_environ(self):
        environ = super().get_environ()
        environ[HANDOVER] = Handover(self.conn_state, self.pool)
        return environ

    def finish(self):
        if self.conn_state[1] is not HANDED_OVER:
            super().finish()
            return
        try:
            BaseHTTPRequestHandler.finish(self)  # only flushes and closes rfile and wfile
        except OSError:
            pass


# accept() errors that mean "no resources right now", not "this listener is broken"
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_BACKOFF = (0.01, 1.0)  # seconds: the first wait, and the longest
BACKOFF_LOG_SECONDS = 10.0  # at most one warning this often while it lasts


class PatientListener:
    """The listening socket as eventlet's accept loop sees it: an `accept()` that waits and
    retries when the process or the system is out of descriptors (EMFILE, ENFILE) or memory.
    eventlet's loop ends for good on those errors, leaving the process up and its port open
    but never answering again, not even once the clients that used the descriptors are gone.
    The pending connections wait in the kernel's backlog meanwhile."""

    def __init__(self, sock, sleep=None, clock=time.monotonic):
        self._sock = sock
        self._sleep = sleep or eventlet.sleep
        self._clock = clock
        self._logged_at: float | None = None
        self.waits = 0  # how many times accept() had to wait (tests, metrics)

    def accept(self):
        delay = ACCEPT_BACKOFF[0]
        while True:
            try:
                return self._sock.accept()
            except OSError as exc:
                if exc.errno not in OUT_OF_RESOURCES:
                    raise
                self.waits += 1
                now = self._clock()
                if self._logged_at is None or now - self._logged_at >= BACKOFF_LOG_SECONDS:
                    self._logged_at = now
                    log.warning("cannot accept connections (%s); retrying", exc.strerror)
                self._sleep(delay)
                delay = min(delay * 2, ACCEPT_BACKOFF[1])

    def __getattr__(self, name):
        return getattr(self._sock, name)


def serve(listener, app, max_connections: int, header_seconds: float = 0.0) -> None:
    """eventlet.wsgi.server, where `max_connections` counts HTTP connections being served and
    handed-over WebSockets together, whose accept loop survives running out of descriptors
    (PatientListener), and where a request's headers must arrive within `header_seconds`."""
    pool = ConnectionPool(max_connections)
    protocol = type(
        "HttpProtocol",
        (HandoverHttpProtocol,),
        {"pool": pool, "header_seconds": header_seconds},
    )
    eventlet.wsgi.server(
        PatientListener(listener),
        app,
        custom_pool=pool,
        protocol=protocol,
        log_output=False,
        debug=False,
    )
