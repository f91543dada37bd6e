"""python-engineio's side of the transport: how its Socket sends, closes and receives once a
WebSocket has a FrameWriter, and what a session keeps of its handshake.

The functions named `send`, `close` and `schedule_ping` (pinger.py) replace engineio Socket
methods of the same name; `install()` puts them in place. Each falls back to engineio's own
method for a socket without a FrameWriter (long-polling, or WebSocket compression on).
"""

from __future__ import annotations

import logging
import socket as stdlib_socket
import sys
from functools import partial

from engineio import exceptions, packet
from engineio.socket import Socket

from eiotransport import counters, gate
from eiotransport.frames import BINARY, TEXT, websocket_frame

log = logging.getLogger("eiotransport")

# engineio's own methods, for the sockets the transport does not write to itself (read once,
# when this module is imported, before install() replaces them).
ENGINEIO_SEND = Socket.send
ENGINEIO_CLOSE = Socket.close
ENGINEIO_INIT = Socket.__init__  # (engineio's BaseSocket.__init__)


def frame_of(pkt: packet.Packet) -> bytes:
    """The packet's WebSocket frame, built once however many clients it goes to: server frames
    are unmasked, so every recipient gets the same bytes, cached on the Engine.IO packet, which
    python-socketio already shares among the recipients of a broadcast."""
    frame = pkt.__dict__.get("ws_frame")
    if frame is None:
        encoded = pkt.encode()
        if pkt.binary:
            frame = websocket_frame(encoded, BINARY)
        else:
            frame = websocket_frame(encoded.encode("utf-8"), TEXT)
        pkt.ws_frame = frame
    return frame


# ---- the handshake's heartbeat, in milliseconds (patch group `handshake`)


def init(self: Socket, server, sid) -> None:
    """engineio Socket.__init__, then an exact heartbeat in the OPEN packet that
    `Server._handle_connect` sends next: python-engineio advertises `pingInterval` as
    `int(seconds) * 1000`, so PING_INTERVAL=0.3 said 0 and the official client, expecting a ping
    within 0 + 200 ms, disconnected. The shadowing `send` is this socket's own, for that one
    packet: Socket.send, which every broadcast goes through, is untouched."""
    ENGINEIO_INIT(self, server, sid)
    if "eiotransport" in server.__dict__:
        self.send = partial(_send_handshake, self)


def _send_handshake(self: Socket, pkt: packet.Packet) -> None:
    del self.send  # Socket.send again from now on
    if pkt.packet_type == packet.OPEN and isinstance(pkt.data, dict):
        server = self.server
        interval = server.ping_interval + server.ping_interval_grace_period
        pkt.data["pingInterval"] = round(interval * 1000)
        pkt.data["pingTimeout"] = round(server.ping_timeout * 1000)  # (int() of 0.57 s: 569)
    self.send(pkt)


# ---- sending


def send(self: Socket, pkt: packet.Packet) -> None:
    """engineio Socket.send: straight to the FrameWriter, no queue, no writer thread."""
    websocket = self.__dict__.get("websocket")  # only ever a DetachedWebSocket (engineio
    if websocket is None:  # sets none of its own); what it writes with is its `writer`
        # long-polling packets here, WebSocket frames in Loop.frames_written (counts() adds them)
        counters.frames_sent.value += 1
        ENGINEIO_SEND(self, pkt)
        return
    if self.check_ping_timeout():
        websocket.writer.write(frame_of(pkt))


def close(self: Socket, wait=True, abort=False, reason=None) -> None:
    """engineio Socket.close: ends the session, then the WebSocket once what was written has
    gone out."""
    websocket = self.__dict__.get("websocket")
    if websocket is None:
        ENGINEIO_CLOSE(self, wait=wait, abort=abort, reason=reason)
        return
    # Nothing reads the queue in this mode, so never wait for it to drain.
    ENGINEIO_CLOSE(self, wait=False, abort=abort, reason=reason)
    websocket.writer.close_after_flush(websocket.close)


def queued_frames(self: Socket) -> bytes:
    """What was queued before the switch to WebSocket, framed: it goes first, so nothing is
    reordered."""
    frames = []
    while not self.queue.empty():
        pkt = self.queue.get_nowait()
        self.queue.task_done()
        # (a NOOP only ends a pending long-poll; the one queued at the probe, when no poll was
        # pending, would reach the client as a stray "6" over the WebSocket)
        if pkt is not None and pkt.packet_type != packet.NOOP:
            frames.append(frame_of(pkt))
    return b"".join(frames)


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
        gate.refusal_log("%s sent a malformed packet (%r); closing", self.sid, exc)
        return False
    return True


def drop_slow_consumer(self: Socket) -> None:
    """Loop.on_overflow: the client stopped reading; its backlog can't go out, nor a CLOSE."""
    log.info("disconnecting %s: it stopped reading (backlog over the limit)", self.sid)
    counters.slow_consumers_dropped.value += 1
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


# Of those, the values most sessions share (the address of a proxy or of a client's many tabs,
# the host, the origin, the path...): one string for all of them, not one each (about 400
# bytes per session). The query string, port and credentials are each session's own.
SHARED_VALUES = frozenset(KEPT_ENVIRON) - {
    "QUERY_STRING",
    "REMOTE_PORT",
    "HTTP_AUTHORIZATION",
    "flask.app",
    "wsgi.url_scheme",
}


def lean_environ(environ: dict) -> dict:
    return {
        key: sys.intern(value) if key in SHARED_VALUES and type(value) is str else value
        for key in KEPT_ENVIRON
        if (value := environ.get(key)) is not None
    }


def keep_lean_environ(eio) -> None:
    """Wrap python-socketio's engine.io connect handler (public `eio.on`) so that the session
    stores a lean environ."""
    store = eio.handlers["connect"]
    eio.on("connect", lambda eio_sid, environ: store(eio_sid, lean_environ(environ)))
