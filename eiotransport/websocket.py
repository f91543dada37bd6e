"""WebSocket connections that hold no green thread while idle.

The upgrade request hands its socket over (server.Handover) and its green thread ends: the
handshake is answered, the socket is registered with eventlet's hub, and a green thread is
spawned only when the socket has bytes to read. It reads what is there, hands complete
Engine.IO packets to engineio in order, and ends when the socket is drained, so an idle
connection costs a few small objects. While it runs, the socket is not watched: a client that
sends faster than the server handles its packets is held back by TCP, as it was by a blocking
reader. Writing is writer.FrameWriter's job.

Closing follows RFC 6455 section 7: the server's CLOSE goes out after everything written before
it; a client's CLOSE is answered and the socket closed at once. After a clean CLOSE of the
server's own, the socket stays open (reading, bounded in bytes and time, on the hub with no
green thread) until the client's CLOSE or EOF. After a protocol error (section 7.1.7, failing
the connection) nothing the client sends is processed any more, its CLOSE included: the CLOSE
goes out and the server's side of TCP ends at once (a FIN, as Node's `ws` does); what the client
still sends is read and discarded, bounded the same way, until its EOF. Either way a client that
answers never gets a reset, and one that was sending (an oversized frame) still reads the
status.
"""

from __future__ import annotations

import logging
import socket as stdlib_socket
from typing import TYPE_CHECKING, Any

import eventlet.greenio
import eventlet.hubs
import eventlet.wsgi
from engineio import packet
from engineio.socket import Socket

from eiotransport import engine, gate
from eiotransport.frames import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    FrameReader,
    ProtocolError,
    accept_key,
    close_frame,
    close_reply,
    websocket_frame,
)
from eiotransport.server import HANDOVER, Slot
from eiotransport.writer import FrameWriter

if TYPE_CHECKING:
    from eiotransport.options import Transport

log = logging.getLogger("eiotransport")

ENGINEIO_UPGRADE = Socket._upgrade_websocket  # read at import, before install() replaces it

_RECV_SIZE = 64 * 1024
_recv_buffer = memoryview(bytearray(_RECV_SIZE))  # shared: copied out before anything yields
CLOSE_WAIT_SECONDS = 2.0  # after the server's CLOSE: how long the client has to answer it
DRAIN_MIN_BYTES = 1024 * 1024  # and how much it may send meanwhile (read and discarded)

# One connection's life: the probe ping, then UPGRADE (polling sessions only), open; ENDING:
# the session is over, what was written is going out; CLOSING: the CLOSE is sent, the client's
# awaited; CLOSED: the socket is closed.
_PROBE, _UPGRADE, _OPEN, _ENDING, _CLOSING, _CLOSED = range(1, 7)


class _NoQueue:
    """engineio's per-session queue once the WebSocket is open: nothing reads it any more
    (the FrameWriter writes straight to the socket), so it need not keep a queue alive."""

    def put(self, item):
        pass

    def empty(self):
        return True

    def join(self):
        pass


NO_QUEUE = _NoQueue()


class DetachedWebSocket:
    """One client's WebSocket after the handshake. engineio sees it as `socket.websocket`."""

    __slots__ = (
        *("eio", "socket", "writer", "_pool", "_frames", "_state", "_listener"),
        *("_timer", "_close_code", "_peer_done", "_reading", "_drain_left"),
    )

    def __init__(self, eio: Socket, sock, pool: Slot, transport: Transport):
        self.eio = eio
        self.socket = sock  # the OS socket, non-blocking
        self._pool = pool
        self._frames: FrameReader | None = FrameReader(int(eio.server.max_http_buffer_size))
        self.writer = FrameWriter(sock, transport.loop, transport.max_backlog_bytes, eio)
        self._state = _PROBE if eio.connected else _OPEN
        self._listener: Any = None  # the hub's, while the socket is read
        self._timer = None
        self._close_code = 1000
        self._peer_done = False  # the client sent its CLOSE, or EOF: nothing more to wait for
        self._reading = False
        self._drain_left = 0

    @property
    def closed(self) -> bool:
        return self._state == _CLOSED

    def start(self, handshake: bytes) -> None:
        """Send the handshake's answer and start reading."""
        eio = self.eio
        if self._state == _OPEN:
            eio.connected = True
            self._open(handshake)  # in one write with the Engine.IO OPEN packet
        else:
            self.writer.write(handshake)
            # As engineio's blocking reader's socket timeout did: an upgrade has that long.
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

    def _unlisten(self) -> None:
        if self._listener is not None:
            eventlet.hubs.get_hub().remove(self._listener)
            self._listener = None

    def _readable(self, _fd) -> None:
        """In the hub: stop watching and start a reader; it watches again once drained."""
        if self._listener is not None:
            self._unlisten()
            self.writer.loop.spawn(self._read)

    def _fd_lost(self, _exc) -> None:
        """The hub found the descriptor reused: someone closed it under us."""
        self._listener = None
        self._peer_done = True
        self.writer.loop.spawn(self._end, self.eio.server.reason.TRANSPORT_ERROR)

    def _read(self) -> None:
        self._reading = True
        try:
            self._read_available()
        except Exception:
            log.exception("%s: reader failed; closing", self.eio.sid)
            self._fail(1011)
        finally:
            self._reading = False
        if self._state in (_PROBE, _UPGRADE, _OPEN, _CLOSING) and self._listener is None:
            self._listen()

    def _read_available(self) -> None:
        while self._state in (_PROBE, _UPGRADE, _OPEN, _CLOSING):
            try:
                n = self.socket.recv_into(_recv_buffer)
            except BlockingIOError:
                return
            except OSError:
                n = 0
            if not n:  # EOF
                self._peer_done = True
                if self._state == _CLOSING:
                    self._finish()
                else:
                    self._end(self.eio.server.reason.TRANSPORT_CLOSE)
                return
            data = _recv_buffer[:n].tobytes()
            if self._state == _CLOSING:
                self._drain(data)
            else:
                self._deliver(data)
            if n < _RECV_SIZE:
                return  # drained; if more arrived meanwhile the hub says so at once

    def _deliver(self, data: bytes) -> None:
        """Hand what `data` completes to engineio, in order; a fault comes after the messages
        that preceded it."""
        assert self._frames is not None  # broken streams are only drained (CLOSING)
        try:
            messages, fault = self._frames.feed(data), None
        except ProtocolError as exc:
            messages, fault = exc.messages, exc
        for i, (opcode, payload) in enumerate(messages):
            try:
                self._on_message(opcode, payload)
            except ProtocolError as exc:
                fault = exc
                break
            if self._state not in (_PROBE, _UPGRADE, _OPEN):
                # a handler or the client ended it: what follows goes unread, but a CLOSE
                # among it means the client is not waiting for ours to reply
                if any(op == CLOSE for op, _ in messages[i + 1 :]):
                    self._peer_done = True
                return
        if fault is not None:
            self._fail(fault.code, fault)

    def _on_message(self, opcode: int, payload: bytes) -> None:
        data: str | bytes
        if opcode == TEXT:
            try:
                data = payload.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(1007, "text frame is not UTF-8") from None
        elif opcode == BINARY:
            data = payload
        elif opcode == PING:
            self.writer.write(websocket_frame(payload, PONG))
            return
        elif opcode == PONG:
            return
        else:  # CLOSE: answered (after what was written before it), then the socket closes
            self._close_code = close_reply(payload)
            self._peer_done = True
            self._end(self.eio.server.reason.TRANSPORT_CLOSE)
            return
        if self._state == _OPEN:
            if not engine.receive(self.eio, data):
                self._end(self.eio.server.reason.TRANSPORT_CLOSE)
        else:
            self._upgrade_step(data)

    def _fail(self, code: int, exc: Exception | None = None) -> None:
        """The client broke the protocol: fail the connection with `code`. The stream is not
        parsed any more (`_frames` None marks a failed connection): close() ends TCP right
        after the CLOSE, and what follows is read and discarded until the client goes."""
        if exc is not None:
            gate.refusal_log("%s: closing: %s", self.eio.sid, exc)
        self._close_code = code
        self._frames = None
        self._end(self.eio.server.reason.TRANSPORT_ERROR)

    # -- the polling-to-WebSocket upgrade (engineio's probe, then UPGRADE)

    def _upgrade_step(self, data) -> None:
        try:
            pkt = packet.Packet(encoded_packet=data)
        except Exception:
            pkt = None
        kind = pkt.packet_type if pkt else None
        if self._state == _PROBE and kind == packet.PING and pkt.data == "probe":
            self.writer.write(engine.frame_of(packet.Packet(packet.PONG, data="probe")))
            # Now, not at the end of the pass: a long-poll answered meanwhile (400 once the
            # UPGRADE that came with the probe is read) must not reach the client before it.
            self.writer.send_pending()
            self.eio.queue.put(packet.Packet(packet.NOOP))  # ends the pending long-poll
            self._state = _UPGRADE
            return
        # (the session may have timed out on long-polling while the upgrade went on)
        if self._state == _UPGRADE and kind == packet.UPGRADE and not self.eio.closed:
            self._open()
            return
        self.eio.server.logger.info("%s: Failed websocket upgrade", self.eio.sid)
        self._abandon_upgrade()

    def _upgrade_expired(self) -> None:
        self._timer = None
        if self._state in (_PROBE, _UPGRADE):
            self._abandon_upgrade()

    def _abandon_upgrade(self) -> None:
        """Close this WebSocket only: the session carries on over long-polling."""
        self.eio.upgrading = False
        self._state = _ENDING
        self.writer.close_after_flush(self.close)

    def _open(self, handshake: bytes = b"") -> None:
        eio = self.eio
        eio.upgraded = True
        eio.upgrading = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.writer.write(handshake + engine.queued_frames(eio))
        eio.queue = NO_QUEUE
        # engine.send writes through it from now on. One attribute more on engineio's Socket,
        # not two: the second one made its __dict__ grow, 768 bytes per connection.
        eio.websocket = self
        self._state = _OPEN
        eio.server.logger.info("%s: Upgrade to websocket successful", eio.sid)

    # -- closing

    def _end(self, reason) -> None:
        """The transport is over (client gone, CLOSE, protocol broken): end the session too.
        What was written before (a PONG, an ack) still goes out, before the CLOSE."""
        if self._state in (_PROBE, _UPGRADE):
            self._abandon_upgrade()
            return
        if self._state != _OPEN:
            return
        self._state = _ENDING
        self.writer.closed = True  # nothing new (the session's own leave) after this point
        # engine.close ends the session, then calls self.close() once the writer has flushed
        self.eio.close(wait=False, abort=True, reason=reason)

    def close(self) -> None:
        """engineio's `ws.close()` (engine.close calls it once the writer has flushed): send
        the CLOSE, then wait (bounded) for the client's. Safe to call more than once."""
        if self._state >= _CLOSING:
            return
        self.writer.abort()
        if self._timer is not None:  # an upgrade's
            self._timer.cancel()
            self._timer = None
        try:
            self.socket.send(close_frame(self._close_code))
            if self._frames is None:  # failed (_fail): the client's CLOSE is not waited for
                self.socket.shutdown(stdlib_socket.SHUT_WR)
        except OSError:
            self._peer_done = True
        if self._peer_done:
            self._finish()
            return
        self._state = _CLOSING
        # enough for the rest of an oversized frame, so that its sender reads the 1009
        self._drain_left = max(16 * int(self.eio.server.max_http_buffer_size), DRAIN_MIN_BYTES)
        self._timer = eventlet.hubs.get_hub().schedule_call_global(CLOSE_WAIT_SECONDS, self._finish)
        if self._listener is None and not self._reading:
            self._listen()

    def _drain(self, data: bytes) -> None:
        """CLOSING: read what the client still sends, looking for its CLOSE."""
        self._drain_left -= len(data)
        if self._drain_left < 0:
            self._finish()
            return
        if self._frames is None:  # a failed connection: only EOF or the timer ends it
            return
        try:
            messages = self._frames.feed(data)
        except ProtocolError as exc:
            messages = exc.messages
            self._frames = None
        if any(opcode == CLOSE for opcode, _ in messages):
            self._finish()

    def _finish(self) -> None:
        """Close the TCP connection and give its slot back."""
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        self.writer.abort()
        self._unlisten()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.socket.close()
        self._pool.release_slot()
        eio = self.eio
        sockets = eio.server.sockets
        if eio.closed and sockets.get(eio.sid) is eio:
            del sockets[eio.sid]


# ---------------------------------------------------------------- engineio's hook

_UNSUPPORTED_VERSION = {
    # RFC 6455 section 4.4: a version the server does not speak gets the ones it does.
    "status": "426 Upgrade Required",
    "headers": [("Sec-WebSocket-Version", "13"), ("Content-Type", "text/plain")],
    "response": b'"Unsupported WebSocket version"',
}


def refuse(environ, code: int = 1008) -> bool:
    """Complete a WebSocket handshake only to close the connection at once with `code` (the
    closing handshake included); False when the request can't be taken over (another WSGI
    server, not an RFC 6455 handshake), for the caller to answer it otherwise."""
    handover = environ.get(HANDOVER)
    key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
    if handover is None or environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13" or len(key) != 24:
        return False
    pool = handover.pool
    sock = eventlet.greenio.GreenSocket(handover.take())
    answer = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n"
    ) + close_frame(code)

    def close() -> None:
        try:
            sock.settimeout(CLOSE_WAIT_SECONDS)
            sock.sendall(answer)
            sock.shutdown(stdlib_socket.SHUT_WR)
            while sock.recv(4096):  # the client's CLOSE, then its end of stream: no reset
                pass
        except OSError:
            pass
        finally:
            sock.close()
            pool.release_slot()

    eventlet.spawn_n(close)
    eventlet.wsgi.WSGI_LOCAL.already_handled = True  # eventlet writes no response of its own
    return True


def upgrade_websocket(self: Socket, environ, start_response):
    """engineio Socket._upgrade_websocket: answer the handshake, hand the connection over to a
    DetachedWebSocket and end the request. Requests served without a Handover (another WSGI
    server) and servers without the transport take engineio's own path."""
    handover = environ.get(HANDOVER)
    transport = self.server.__dict__.get("eiotransport")
    if handover is None or transport is None or not transport.detached:
        return ENGINEIO_UPGRADE(self, environ, start_response)
    if self.upgraded:
        raise OSError("Socket has been upgraded already")
    key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
    version = environ.get("HTTP_SEC_WEBSOCKET_VERSION")
    if version != "13" or len(key) != 24:
        if not self.connected:  # a new session that never got its transport
            self.close(wait=False, abort=True)
        if version is not None and version != "13":
            return {**_UNSUPPORTED_VERSION, "headers": list(_UNSUPPORTED_VERSION["headers"])}
        return self.server._bad_request("Unsupported WebSocket handshake")
    handshake = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n"
    )
    sock = handover.take()
    if transport.send_buffer_bytes:
        sock.setsockopt(
            stdlib_socket.SOL_SOCKET, stdlib_socket.SO_SNDBUF, transport.send_buffer_bytes
        )
    DetachedWebSocket(self, sock, handover.slot, transport).start(handshake)
    eventlet.wsgi.WSGI_LOCAL.already_handled = True  # eventlet writes no response of its own
    return []
