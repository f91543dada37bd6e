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

from eiotransport import gate

log = logging.getLogger("eiotransport")

HANDOVER = "eiotransport.handover"  # environ key: how a request hands its connection over


class _HandedOver:
    """Stands in for a socket eventlet's server no longer owns, so its clean-up is a no-op."""

    def shutdown(self, *args):
        pass

    def close(self):
        pass


HANDED_OVER = _HandedOver()


_TOO_MANY = b"Too many connections from your address.\n"
TURNED_AWAY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TOO_MANY), _TOO_MANY)
)


def _turn_away(connection) -> None:
    """Answer a connection over its address's cap; eventlet's clean-up then closes it."""
    try:
        connection[1].send(TURNED_AWAY)  # a fresh socket's buffer takes it whole
    except OSError:
        pass


class ConnectionPool(eventlet.GreenPool):
    """eventlet's GreenPool, counting connections rather than green threads: a request that
    hands its connection over passes its slot on to it, and the slot is freed when that
    connection closes. So `size` bounds HTTP requests and idle WebSockets together, and at the
    limit the server stops accepting, as eventlet's pool does.

    With `per_address`, it also counts TCP connections per peer address, from the moment they
    are accepted: one over the cap is answered 503 and closed, so that no address (half-sent
    requests, sessions that never speak Socket.IO) can fill `size` by itself."""

    def __init__(self, size: int, per_address: int = 0):
        super().__init__(size)
        self.per_address = per_address
        self.per_host: dict[str, int] = {}
        self._host_of: dict = {}  # green thread -> its connection's peer address
        self._passed_on: set = set()

    def spawn(self, function, *args, **kwargs):
        """eventlet's accept loop calls spawn(process_request, [address, socket, state])."""
        host = _peer_host(args)
        over = bool(self.per_address) and self.per_host.get(host or "", 0) >= self.per_address
        if host is not None and over:
            gate.refusal_log("turned away a connection from %s: too many", host)
            return super().spawn(_turn_away, *args)
        thread = super().spawn(function, *args, **kwargs)
        if host is not None and self.per_address:
            self.per_host[host] = self.per_host.get(host, 0) + 1
            self._host_of[thread] = host
        return thread

    def pass_on_slot(self) -> None:
        """From a request's green thread: its slot outlives the thread."""
        self._passed_on.add(eventlet.getcurrent())

    def release_slot(self, host: str | None = None) -> None:
        self.sem.release()
        self._forget(host)

    def _forget(self, host: str | None) -> None:
        if host is None:
            return
        left = self.per_host.get(host, 1) - 1
        if left > 0:
            self.per_host[host] = left
        else:
            self.per_host.pop(host, None)

    def _spawn_done(self, coro):
        super()._spawn_done(coro)  # releases the thread's slot...
        host = self._host_of.pop(coro, None)
        if coro in self._passed_on:
            self._passed_on.discard(coro)
            self.sem.acquire(blocking=False)  # ...which is taken back: nothing ran in between
        else:  # (a connection handed over counts for its address until release_slot)
            self._forget(host)

    def host_of_current(self) -> str | None:
        return self._host_of.get(eventlet.getcurrent())


def _peer_host(args) -> str | None:
    connection = args[0] if args else None
    if isinstance(connection, list) and connection and isinstance(connection[0], tuple):
        return connection[0][0]
    return None


class Slot:
    """A handed-over connection's place in the pool: `release_slot()` once it is closed."""

    __slots__ = ("host", "pool")

    def __init__(self, pool: ConnectionPool, host: str | None):
        self.pool = pool
        self.host = host

    def release_slot(self) -> None:
        self.pool.release_slot(self.host)


class Handover:
    """Lets the application take a request's socket from eventlet's WSGI server."""

    __slots__ = ("_conn_state", "pool", "slot")

    def __init__(self, conn_state: list, pool: ConnectionPool):
        self._conn_state = conn_state  # eventlet's [address, socket, state] for the connection
        self.pool = pool
        self.slot: Slot | None = None

    def take(self):
        """The client's OS socket, out of eventlet's wrapper: now the caller's to close, and
        then to give its place back with `slot.release_slot()`."""
        self.slot = Slot(self.pool, self.pool.host_of_current())
        self.pool.pass_on_slot()
        green, self._conn_state[1] = self._conn_state[1], HANDED_OVER
        raw = green.fd
        # detach(): the wrapper, collected with the request, must not close the descriptor
        sock = type(raw)(fileno=raw.detach())
        sock.setblocking(False)
        return sock


HTTP_BUFFER_BYTES = 1024


class HandoverHttpProtocol(eventlet.wsgi.HttpProtocol):
    """eventlet's HTTP/1.1 protocol, able to hand its connection over (see Handover), with a
    deadline for each request's line and headers: from the moment the server waits for a
    request (a new connection, or the next request on a kept-alive one) to the end of its
    headers. eventlet has none: a client that sends half a request, or a byte now and then,
    held its connection, and a slot of MAX_CONNECTIONS, for ever."""

    pool: ConnectionPool | None = None  # the server's; set by serve()
    header_seconds = 0.0  # 0: no deadline; set by serve()
    # The HTTP connection's buffers (socketserver's rbufsize and wbufsize): 1 KiB each, not
    # 8 KiB and eventlet's 16 KiB. A long-polling request and its answer are a few hundred
    # bytes; a longer header takes one more recv, and reads and writes larger than the buffer
    # bypass it. With the official client (long-polling, then the upgrade) every client opens
    # a few of these; RSS per idle client, 2,000 clients, 2 s after the last connected:
    # about 17 KB -> 12 KB, the freed buffers no longer fragmenting the heap.
    rbufsize = HTTP_BUFFER_BYTES
    wbufsize = HTTP_BUFFER_BYTES
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
        assert self.pool is not None  # serve() sets it before the first request
        environ[HANDOVER] = Handover(self.conn_state, self.pool)
        # eventlet's `set_idle` closes over the protocol, which holds the environ: a cycle, so
        # each connection (its buffers, socket wrappers and environ) waited for the cyclic
        # collector instead of going when it closed. 2,000 clients on long-polling then
        # WebSocket, bench/run.py capacity --seed 1: a third of their HTTP connections were
        # still uncollected 2 s after the last one connected. The same, over conn_state only.
        conn_state = self.conn_state

        def set_idle():
            conn_state[2] = eventlet.wsgi.STATE_IDLE

        environ["eventlet.set_idle"] = set_idle
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


def serve(
    listener,
    app,
    max_connections: int,
    header_seconds: float = 0.0,
    connections_per_address: int = 0,
) -> None:
    """eventlet.wsgi.server, where `max_connections` counts HTTP connections being served and
    handed-over WebSockets together, whose accept loop survives running out of descriptors
    (PatientListener), where a request's headers must arrive within `header_seconds`, and
    where one peer address holds at most `connections_per_address` TCP connections."""
    pool = ConnectionPool(max_connections, per_address=connections_per_address)
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
