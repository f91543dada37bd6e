"""WebSocket connections that hold no green thread while idle.

Under eventlet's WSGI server every WebSocket keeps the green thread that served its HTTP
upgrade request, parked in a blocking read for the life of the connection, together with
everything that request built: the HTTP protocol object with its 8 KiB read and 16 KiB write
buffers, the parsed headers, the WSGI environ, eventlet's WebSocket object. With 10,000 idle
clients that was most of the server's memory (see fastpath.install for the figures).

Here the upgrade request hands its socket over and its green thread ends: the handshake is
answered, the socket is registered with eventlet's hub, and a green thread is spawned only when
the socket has bytes to read. It reads what is there, hands complete Engine.IO packets to
engineio in order, and ends when the socket is drained, so an idle connection costs a few small
objects. While it runs, the socket is not watched: a client that sends faster than the server
handles its packets is held back by TCP, as it was by the blocking reader. Writing is
fastpath.FrameWriter's job, as before.

Pieces: `serve` (eventlet's WSGI server with a protocol that can hand its connection over,
counting handed-over sockets against `max_connections`), `FrameReader` (RFC 6455 client frames,
pure), `DetachedWebSocket` (one connection) and `upgrade_websocket` (engineio's hook).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import struct
from http.server import BaseHTTPRequestHandler

import eventlet
import eventlet.hubs
import eventlet.wsgi
from engineio import packet
from engineio.socket import Socket

from rpschat.web import fastpath

log = logging.getLogger("rpschat.transport")

HANDOVER = "rpschat.handover"  # environ key: how a request hands its connection over
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_RECV_SIZE = 64 * 1024
_recv_buffer = memoryview(bytearray(_RECV_SIZE))  # shared: copied out before anything yields
_original_upgrade = Socket._upgrade_websocket


# ---------------------------------------------------------------- serving


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
    """eventlet's HTTP/1.1 protocol, able to hand its connection over (see Handover)."""

    pool = None  # the server's ConnectionPool; set by serve()

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


def serve(listener, app, max_connections: int) -> None:
    """eventlet.wsgi.server, where `max_connections` counts HTTP connections being served and
    handed-over WebSockets together."""
    pool = ConnectionPool(max_connections)
    protocol = type("HttpProtocol", (HandoverHttpProtocol,), {"pool": pool})
    eventlet.wsgi.server(
        listener, app, custom_pool=pool, protocol=protocol, log_output=False, debug=False
    )


# ---------------------------------------------------------------- frames


class ProtocolError(Exception):
    """The client broke RFC 6455; `code` is the close status to answer with."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code


def unmask(payload: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte masking key, as one big-integer operation instead of a byte loop."""
    n = len(payload)
    if not n:
        return b""
    mask = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(payload, "little") ^ mask).to_bytes(n, "little")


class FrameReader:
    """Client-to-server WebSocket frames (RFC 6455 section 5), fed bytes as they arrive.

    `feed` returns the complete messages `(opcode, payload)` in order: TEXT or BINARY with the
    fragments joined, and control frames (CLOSE, PING, PONG) as they come. A message longer than
    `max_message` is refused from its header, before its payload is buffered."""

    __slots__ = ("max_message", "_buffer", "_fragments", "_opcode", "_size")

    def __init__(self, max_message: int):
        self.max_message = max_message
        self._buffer = b""
        self._fragments: list | None = None
        self._opcode = 0
        self._size = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buffer + data if self._buffer else data
        out: list[tuple[int, bytes]] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            fin, opcode, length = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if b0 & 0x70:
                raise ProtocolError(1002, "reserved bits set (no extension was agreed)")
            if not b1 & 0x80:
                raise ProtocolError(1002, "unmasked client frame")
            header = 2
            if length == 126:
                if end - pos < 4:
                    break
                (length,) = struct.unpack_from("!H", buf, pos + 2)
                header = 4
            elif length == 127:
                if end - pos < 10:
                    break
                (length,) = struct.unpack_from("!Q", buf, pos + 2)
                header = 10
            self._check(fin, opcode, length)
            start = pos + header + 4
            if end - start < length:
                break
            payload = unmask(buf[start : start + length], buf[start - 4 : start])
            pos = start + length
            if opcode >= _CLOSE or (fin and opcode):  # a control frame or a whole message
                out.append((opcode, payload))
            elif opcode:  # the first fragment
                self._fragments, self._opcode, self._size = [payload], opcode, length
            else:
                self._fragments.append(payload)
                self._size += length
                if fin:
                    out.append((self._opcode, b"".join(self._fragments)))
                    self._fragments = None
        self._buffer = buf[pos:] if pos < end else b""
        return out

    def _check(self, fin: int, opcode: int, length: int) -> None:
        if opcode >= _CLOSE:
            if opcode not in (_CLOSE, _PING, _PONG):
                raise ProtocolError(1002, f"unknown control opcode {opcode}")
            if not fin or length > 125:
                raise ProtocolError(1002, "fragmented or long control frame")
            return
        if opcode not in (_CONT, _TEXT, _BINARY):
            raise ProtocolError(1002, f"unknown opcode {opcode}")
        if (opcode == _CONT) != (self._fragments is not None):
            raise ProtocolError(1002, "unexpected continuation or missing one")
        size = length + (self._size if opcode == _CONT else 0)
        if size > self.max_message:
            raise ProtocolError(1009, "message too big")


def close_reply(payload: bytes) -> int:
    """The status to answer a client's CLOSE frame with: its own, if it is one that may be sent
    (RFC 6455 section 7.4), 1000 if it gave none, else 1002."""
    if not payload:
        return 1000
    if len(payload) >= 2:
        (code,) = struct.unpack_from("!H", payload)
        if 1000 <= code <= 1011 and code not in (1004, 1005, 1006) or 3000 <= code < 5000:
            return code
    return 1002


# ---------------------------------------------------------------- connections

_PROBE, _UPGRADE, _OPEN = 1, 2, 3  # waiting for the probe ping, for UPGRADE, upgraded


class _NoQueue:
    """engineio's per-session queue once the WebSocket is open: nothing reads it any more
    (fastpath writes straight to the socket), so it need not keep a queue object alive."""

    def put(self, item):
        pass

    def empty(self):
        return True

    def join(self):
        pass


NO_QUEUE = _NoQueue()


class DetachedWebSocket:
    """One client's WebSocket after the handshake. engineio sees it as `socket.websocket`."""

    __slots__ = ("eio", "socket", "writer", "closed", "_pool", "_frames", "_state", "_listener")
    __slots__ += ("_timer", "_close_code")

    def __init__(self, eio: Socket, sock, pool: ConnectionPool):
        self.eio = eio
        self.socket = sock  # the OS socket, non-blocking
        self._pool = pool
        self._frames = FrameReader(int(eio.server.max_http_buffer_size))
        self.writer = fastpath.FrameWriter(sock, fastpath.max_backlog_bytes(), eio)
        self.closed = False
        self._state = _PROBE if eio.connected else _OPEN
        self._listener = None
        self._timer = None
        self._close_code = 1000

    def start(self, handshake: bytes) -> None:
        """Send the handshake's answer and start reading."""
        eio = self.eio
        if self._state == _OPEN:
            eio.connected = True
            self._open(handshake)  # in one write with the Engine.IO OPEN packet
        else:
            self.writer.write(handshake)
            # As the blocking reader's socket timeout did: an upgrade has that long to finish.
            eio.upgrading = True
            wait = eio.server.ping_interval + eio.server.ping_timeout
            self._timer = eventlet.hubs.get_hub().schedule_call_global(wait, self._upgrade_expired)
        self._listen()

    # -- reading

    def _listen(self) -> None:
        hub = eventlet.hubs.get_hub()
        fd = self.socket.fileno()
        self._listener = hub.add(hub.READ, fd, self._readable, self._fd_lost, None)
        self._listener.greenlet = hub.greenlet  # not the (ending) green thread that added it

    def _readable(self, _fd) -> None:
        """In the hub: stop watching and start a reader; it watches again once drained."""
        if self._listener is not None:
            eventlet.hubs.get_hub().remove(self._listener)
            self._listener = None
            fastpath.spawn(self._read)

    def _fd_lost(self, _exc) -> None:
        """The hub found the descriptor reused: someone closed it under us."""
        self._listener = None
        fastpath.spawn(self._end, self.eio.server.reason.TRANSPORT_ERROR)

    def _read(self) -> None:
        try:
            while not self.closed:
                try:
                    n = self.socket.recv_into(_recv_buffer)
                except BlockingIOError:
                    break
                except OSError:
                    n = 0
                if not n:
                    self._end(self.eio.server.reason.TRANSPORT_CLOSE)
                    return
                for opcode, payload in self._frames.feed(_recv_buffer[:n].tobytes()):
                    # (a handler may have closed the connection: what follows goes unread)
                    if self.closed or not self._on_message(opcode, payload):
                        return
                if n < _RECV_SIZE:
                    break  # drained; if more arrived meanwhile the hub says so at once
        except ProtocolError as exc:
            log.info("%s: closing: %s", self.eio.sid, exc)
            self._close_code = exc.code
            self._end(self.eio.server.reason.TRANSPORT_ERROR)
            return
        except Exception:
            log.exception("%s: reader failed; closing", self.eio.sid)
            self._close_code = 1011
            self._end(self.eio.server.reason.TRANSPORT_ERROR)
            return
        if not self.closed:
            self._listen()

    def _on_message(self, opcode: int, payload: bytes) -> bool:
        """Handle one message; False once the connection is over."""
        if opcode == _TEXT:
            try:
                data = payload.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(1007, "text frame is not UTF-8") from None
        elif opcode == _BINARY:
            data = payload
        elif opcode == _PING:
            self.writer.write(fastpath.websocket_frame(payload, _PONG))
            return True
        elif opcode == _PONG:
            return True
        else:  # CLOSE: answer it and go
            self._close_code = close_reply(payload)
            self._end(self.eio.server.reason.TRANSPORT_CLOSE)
            return False
        if self._state == _OPEN:
            if fastpath.receive(self.eio, data):
                return True
            self._end(self.eio.server.reason.TRANSPORT_CLOSE)
            return False
        return self._upgrade_step(data)

    # -- the polling-to-WebSocket upgrade (engineio's probe, then UPGRADE)

    def _upgrade_step(self, data) -> bool:
        try:
            pkt = packet.Packet(encoded_packet=data)
        except Exception:
            pkt = None
        kind = pkt.packet_type if pkt else None
        if self._state == _PROBE and kind == packet.PING and pkt.data == "probe":
            self.writer.write(fastpath.frame_of(packet.Packet(packet.PONG, data="probe")))
            self.eio.queue.put(packet.Packet(packet.NOOP))  # ends the pending long-poll
            self._state = _UPGRADE
            return True
        # (the session may have timed out on long-polling while the upgrade went on)
        if self._state == _UPGRADE and kind == packet.UPGRADE and not self.eio.closed:
            self._open()
            return True
        self.eio.server.logger.info("%s: Failed websocket upgrade", self.eio.sid)
        self._abandon_upgrade()
        return False

    def _upgrade_expired(self) -> None:
        self._timer = None
        if self._state != _OPEN and not self.closed:
            self._abandon_upgrade()

    def _abandon_upgrade(self) -> None:
        """Close this WebSocket only: the session carries on over long-polling."""
        self.eio.upgrading = False
        self.writer.closed = True
        self.writer.close_after_flush(self.close)

    def _open(self, handshake: bytes = b"") -> None:
        eio = self.eio
        eio.upgraded = True
        eio.upgrading = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        eio.websocket = self
        self.writer.write(handshake + fastpath.queued_frames(eio))
        eio.queue = NO_QUEUE
        eio.frame_writer = self.writer
        self._state = _OPEN
        eio.server.logger.info("%s: Upgrade to websocket successful", eio.sid)

    # -- closing

    def _end(self, reason) -> None:
        """The transport is over (client gone, protocol broken): end the session with it."""
        if self._state != _OPEN:
            self._abandon_upgrade()
            return
        self.writer.closed = True
        # fastpath's Socket.close ends the session, then calls self.close() once flushed
        self.eio.close(wait=False, abort=True, reason=reason)

    def close(self) -> None:
        """Close the TCP connection (engineio's `ws.close()`; fastpath calls it once the writer
        has flushed). Safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        self.writer.closed = True
        if self._listener is not None:
            eventlet.hubs.get_hub().remove(self._listener)
            self._listener = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            self.socket.send(fastpath.websocket_frame(struct.pack("!H", self._close_code), _CLOSE))
        except OSError:
            pass
        self.socket.close()
        self._pool.release_slot()
        eio = self.eio
        sockets = eio.server.sockets
        if eio.closed and sockets.get(eio.sid) is eio:
            del sockets[eio.sid]


# ---------------------------------------------------------------- engineio's hook


def accept_key(key: str) -> bytes:
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest())


def upgrade_websocket(self: Socket, environ, start_response):
    """engineio Socket._upgrade_websocket: answer the handshake, hand the connection over to a
    DetachedWebSocket and end the request. Requests served without a Handover (another WSGI
    server) take engineio's own path."""
    handover = environ.get(HANDOVER)
    if handover is None:
        return _original_upgrade(self, environ, start_response)
    if self.upgraded:
        raise OSError("Socket has been upgraded already")
    key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
    if environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13" or len(key) != 24:
        if not self.connected:  # a new session that never got its transport
            self.close(wait=False, abort=True)
        return self.server._bad_request("Unsupported WebSocket handshake")
    handshake = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n"
    )
    DetachedWebSocket(self, handover.take(), handover.pool).start(handshake)
    eventlet.wsgi.WSGI_LOCAL.already_handled = True  # eventlet writes no response of its own
    return []
