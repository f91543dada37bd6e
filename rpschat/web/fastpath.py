"""A faster WebSocket send path for python-engineio under eventlet.

python-engineio hands every outgoing packet to a per-connection queue, wakes a writer green
thread for it, and that thread frames and writes one packet at a time. In a broadcast to N
clients that is N queue hand-offs, N green-thread switches and N framings of identical bytes:
most of the CPU of a chat server (see FIELD-NOTES). Here instead:

- a broadcast's frame is built once and shared: server-to-client WebSocket frames are unmasked,
  so every recipient gets the same bytes (cached on the Engine.IO packet, which python-socketio
  already shares among the recipients of a broadcast);
- the frame is written straight to the socket with a non-blocking `send`; only what the kernel
  does not take is buffered, and a green thread to flush it is started only then and ends when
  the buffer is empty, so idle connections carry no writer thread at all;
- a client whose unsent backlog passes `max_backlog_bytes` (it stopped reading) is
  disconnected instead of growing the server's memory and delaying everyone else.

`install()` is the one place that patches python-engineio (its Socket class and the server
instance), for this and for the memory cuts in pinger.py and detached.py; a pinned
python-engineio (4.15.1) is assumed, and tests/net covers the result end to end.
"""

from __future__ import annotations

import logging
import socket as stdlib_socket
import struct

from engineio import exceptions, packet
from engineio.socket import Socket

log = logging.getLogger("rpschat.transport")

_TEXT, _BINARY = 0x1, 0x2
_original_send = Socket.send
_original_close = Socket.close
_spawn = None  # eventlet.spawn_n, bound by install()
_schedule_call = None  # the eventlet hub's schedule_call_global, bound by install()
_trampoline = None  # eventlet.hubs.trampoline, bound by install()
_max_backlog_bytes = 1024 * 1024
_write_timeout = 45.0  # ping_interval + ping_timeout, set by install()


def spawn(fn, *args) -> None:
    """Start a green thread that nobody waits for (eventlet.spawn_n once installed)."""
    _spawn(fn, *args)


def max_backlog_bytes() -> int:
    return _max_backlog_bytes


def websocket_frame(payload: bytes, opcode: int) -> bytes:
    """An unmasked, final WebSocket frame (RFC 6455 section 5.2)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload


def frame_of(pkt: packet.Packet) -> bytes:
    """The packet's WebSocket frame, built once however many clients it goes to."""
    frame = pkt.__dict__.get("ws_frame")
    if frame is None:
        encoded = pkt.encode()
        if pkt.binary:
            frame = websocket_frame(encoded, _BINARY)
        else:
            frame = websocket_frame(encoded.encode("utf-8"), _TEXT)
        pkt.ws_frame = frame
    return frame


class FrameWriter:
    """Writes frames to one client's socket without blocking the caller.

    Frames written during one pass of the event loop are sent together when the pass ends
    (`flush_written`): a handler's ack and the event after it, or the messages of several
    senders read in the same pass, leave in one `send`. The server sets TCP_NODELAY, so this
    batching is what keeps small writes from each costing a TCP segment of their own."""

    __slots__ = ("_raw", "_pending", "_pending_bytes", "_flushing", "closed", "_limit")
    __slots__ += ("_session", "_close_when_flushed")

    def __init__(self, raw_socket, max_backlog_bytes: int, session: Socket):
        self._raw = raw_socket  # a real, non-blocking socket (not eventlet's wrapper)
        self._pending: list = []
        self._pending_bytes = 0
        self._flushing = False
        self._close_when_flushed = None
        self._limit = max_backlog_bytes
        self._session = session  # dropped as a slow consumer when the backlog overflows
        self.closed = False

    def write(self, frame: bytes) -> None:
        if self.closed:
            return
        if not self._pending and not self._flushing:
            _written.append(self)
            if len(_written) == 1:
                _schedule_flush()
        self._buffer(frame)

    def _send_pending(self) -> None:
        """End of the pass: send what was written; a green thread waits out what is left."""
        if self._flushing or self.closed or not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        try:
            sent = self._raw.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.closed = True  # the peer is gone; the reader side notices and cleans up
            return
        if sent < len(data):
            self._buffer(memoryview(data)[sent:])
            if not self.closed:
                self._flushing = True
                _spawn(self._flush)

    def _buffer(self, data) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes > self._limit:
            self.closed = True
            self._pending.clear()
            _spawn(drop_slow_consumer, self._session)

    def _flush(self) -> None:
        try:
            while self._pending and not self.closed:
                data = memoryview(b"".join(self._pending))
                self._pending.clear()
                self._pending_bytes = 0
                while data and not self.closed:
                    try:
                        data = data[self._raw.send(data) :]
                    except BlockingIOError:
                        # Yields to the hub while the client is slow; one that takes no bytes
                        # for a whole heartbeat is gone (as the blocking writer's timeout had it).
                        _trampoline(
                            self._raw,
                            write=True,
                            timeout=_write_timeout,
                            timeout_exc=TimeoutError("write timed out"),
                        )
        except OSError:
            self.closed = True
        finally:
            self._flushing = False
            if self._close_when_flushed is not None:
                self._close_when_flushed()

    def close_after_flush(self, close) -> None:
        """Run `close` once everything already written has gone out."""
        self._send_pending()
        if self._flushing:
            self._close_when_flushed = close
        else:
            close()


_written: list[FrameWriter] = []  # writers given frames in this pass of the event loop


def flush_written() -> None:
    writers = _written[:]
    _written.clear()
    for writer in writers:
        writer._send_pending()


def _schedule_flush() -> None:
    _schedule_call(0, flush_written)


def _fast_send(self: Socket, pkt: packet.Packet) -> None:
    writer = self.__dict__.get("frame_writer")
    if writer is None:
        _original_send(self, pkt)
        return
    if self.check_ping_timeout():
        writer.write(frame_of(pkt))


def _fast_close(self: Socket, wait=True, abort=False, reason=None) -> None:
    writer = self.__dict__.get("frame_writer")
    if writer is None:
        _original_close(self, wait=wait, abort=abort, reason=reason)
        return
    # Nothing reads the queue in this mode, so never wait for it to drain.
    _original_close(self, wait=False, abort=abort, reason=reason)
    ws = self.__dict__["websocket"]
    writer.close_after_flush(lambda: _close_quietly(ws))


def _websocket_handler(self: Socket, ws):
    """engineio's Socket._websocket_handler, with the queue and writer thread replaced by a
    FrameWriter once the connection is a WebSocket. Kept in step with python-engineio 4.15.1."""
    server = self.server

    def websocket_wait():
        data = ws.wait()
        if data and len(data) > server.max_http_buffer_size:
            raise ValueError("packet is too large")
        return data

    ws.socket.settimeout(server.ping_interval + server.ping_timeout)
    if self.connected:
        if not _upgrade(self, ws, websocket_wait):
            return []
    else:
        self.connected = True
        self.upgraded = True
    self.websocket = ws
    writer = FrameWriter(ws.socket.fd, _max_backlog_bytes, self)
    writer.write(queued_frames(self))
    self.frame_writer = writer
    server.logger.info("%s: Upgrade to websocket successful", self.sid)
    _read_until_closed(self, websocket_wait)
    writer.closed = True
    self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
    _close_quietly(ws)
    return []


def _close_quietly(ws) -> None:
    try:
        ws.close()
    except OSError:
        pass  # already closed by the other side or by close_after_flush


def _upgrade(self: Socket, ws, websocket_wait) -> bool:
    """The polling-to-WebSocket upgrade handshake (probe ping/pong, then UPGRADE)."""
    self.upgrading = True
    decoded = packet.Packet(encoded_packet=websocket_wait())
    if decoded.packet_type != packet.PING or decoded.data != "probe":
        self.upgrading = False
        return False
    ws.send(packet.Packet(packet.PONG, data="probe").encode())
    self.queue.put(packet.Packet(packet.NOOP))  # ends the pending long-poll
    decoded = packet.Packet(encoded_packet=websocket_wait())
    if decoded.packet_type != packet.UPGRADE:
        self.upgrading = False
        return False
    self.upgraded = True
    self.upgrading = False
    return True


def queued_frames(self: Socket) -> bytes:
    """What was queued before the switch to WebSocket, framed: it goes first, so nothing is
    reordered."""
    frames = []
    while not self.queue.empty():
        pkt = self.queue.get_nowait()
        self.queue.task_done()
        if pkt is not None:
            frames.append(frame_of(pkt))
    return b"".join(frames)


def _read_until_closed(self: Socket, websocket_wait) -> None:
    while True:
        try:
            data = websocket_wait()
        except Exception as exc:  # a closed or broken socket ends the connection
            if not self.closed:
                self.server.logger.info("%s: closing: %s", self.sid, exc)
            return
        if data is None or not receive(self, data):
            return


_MALFORMED = (ValueError, TypeError, KeyError, IndexError, AttributeError)


def receive(self: Socket, data) -> bool:
    """Hand one Engine.IO packet from the WebSocket to engineio; False: end the connection."""
    try:
        self.receive(packet.Packet(encoded_packet=data))
    except exceptions.SocketIsClosedError:
        return False
    except (*_MALFORMED, exceptions.UnknownPacketError) as exc:
        # Events are routed and guarded above this layer: what fails here is a packet
        # that is not Engine.IO / Socket.IO at all. Close, and keep the log free of noise.
        log.info("%s sent a malformed packet (%r); closing", self.sid, exc)
        return False
    return True


def drop_slow_consumer(self: Socket) -> None:
    log.info("disconnecting %s: it stopped reading (backlog over the limit)", self.sid)
    self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_ERROR)
    try:
        self.websocket.socket.shutdown(stdlib_socket.SHUT_RDWR)
    except OSError:
        pass


# What a session keeps of its handshake's WSGI environ (python-socketio holds it for the life of
# the connection and passes it to connect handlers): the request line, the client's address and
# the headers that origin checks, proxies and authentication use. Not the rest: `wsgi.input`
# and the server's hooks would keep the whole HTTP request (buffers included) alive, and the
# other headers (cookies, user agent...) are read by nothing here.
KEPT_ENVIRON = (
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "wsgi.url_scheme",
    "flask.app",
    "HTTP_HOST",
    "HTTP_ORIGIN",
    "HTTP_AUTHORIZATION",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_REAL_IP",
)


def lean_environ(environ: dict) -> dict:
    return {key: environ[key] for key in KEPT_ENVIRON if key in environ}


def _keep_lean_environ(eio) -> None:
    """Wrap python-socketio's engine.io connect handler so it stores a lean environ."""
    store = eio.handlers["connect"]
    eio.handlers["connect"] = lambda eio_sid, environ: store(eio_sid, lean_environ(environ))


def install(server, max_backlog_bytes: int, detach_websockets: bool = True) -> None:
    """Patch python-engineio for eventlet (only there), on `server` (a socketio.Server):

    - WebSocket sends go through FrameWriter (this module);
    - heartbeats come from one Pinger task instead of a green thread per connection;
    - sessions keep a lean copy of their WSGI environ;
    - with `detach_websockets` (needs detached.serve as the WSGI server, and no WebSocket
      compression, which detached connections do not speak), WebSockets hold no green thread.

    Measured with 10,000 idle socket.io clients (bench/run.py capacity), these took the server's
    memory per client from about 55 KB to about 4 KB (Node's Socket.IO server: about 17 KB)."""
    import eventlet
    import eventlet.hubs

    from rpschat.web import pinger

    global _spawn, _schedule_call, _trampoline, _max_backlog_bytes, _write_timeout
    _spawn = eventlet.spawn_n
    _schedule_call = eventlet.hubs.get_hub().schedule_call_global
    _trampoline = eventlet.hubs.trampoline
    _max_backlog_bytes = max_backlog_bytes
    _write_timeout = server.eio.ping_interval + server.eio.ping_timeout
    Socket.send = _fast_send
    Socket.close = _fast_close
    Socket._websocket_handler = _websocket_handler

    eio = server.eio
    eio.pinger = pinger.Pinger(eio, spawn=eventlet.spawn_n, event_factory=eio.create_event)
    Socket.schedule_ping = pinger.schedule_ping
    eio.start_service_task = False  # the Pinger checks timeouts and reaps closed sockets
    _keep_lean_environ(eio)

    if detach_websockets:
        from rpschat.web import detached

        Socket._upgrade_websocket = detached.upgrade_websocket
