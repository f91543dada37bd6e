"""What every Socket.IO handler shares: ack-or-error answers, strict packets, connect ordering.

Three public seams of python-socketio / python-engineio, no patch:

- `ClientPacket`, the server's `serializer=`: decodes what clients send, refuses packets that
  are not Socket.IO (`MalformedPacket`), and notes whether the event being decoded asked for an
  ack. Handlers run right after the decode, in the same thread or green thread
  (`async_handlers=False`), so `asked_for_ack()` tells a handler what python-socketio does not.
- `refuse` (Flask-SocketIO's `on_error_default`): a handler's `Refused` becomes the ack
  `{ok: false, code, error, ...details}`, or the `error` event `{event, code, error, ...details}`
  for a client that asked for no ack.
- `guard_messages` wraps the Engine.IO `message` handler python-socketio registered (`eio.on`):
  a malformed packet closes its connection at once, and work queued with `after_connect` runs
  once the answer to the client's CONNECT is on its way, before the connection's next packet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import orjson
import socketio
from flask import Flask, request, request_tearing_down
from flask.sessions import NullSession, SecureCookieSessionInterface
from flask_socketio import emit
from socketio import packet

from rpschat.domain.errors import Code, Refused

log = logging.getLogger("rpschat.events")

INTERNAL_ERROR = "Something went wrong on the server; please try again."


def internal_error() -> Refused:
    """What a client is told of a bug (logged with its traceback where it happened)."""
    return Refused(Code.INTERNAL_ERROR, INTERNAL_ERROR)


# Event names python-socketio and Socket.IO clients reserve: never client events. A client
# emitting "connect" would otherwise run the connect handler again (Socket.IO's JS parser
# refuses these names as an invalid payload too).
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)

# Per thread, and per green thread under eventlet (greenlet gives each its own context):
# eventlet's patched threading.local costs about 5 us an access, a ContextVar 0.1-0.5 us.
_ack_id: ContextVar[int | None] = ContextVar("ack_id")
_after_connect: ContextVar[list[Any] | None] = ContextVar("after_connect", default=None)


class MalformedPacket(ValueError):
    """Bytes that are not a Socket.IO packet a client may send."""


class ClientPacket(packet.Packet):
    """python-socketio's packet, strict about what clients send, noting ack requests."""

    def decode(self, encoded_packet):
        try:
            attachments = super().decode(encoded_packet)
        except Exception as exc:  # not JSON, an id too long, a type that is not a digit...
            raise MalformedPacket(f"undecodable packet: {exc}") from None
        kind, data = self.packet_type, self.data
        binary = kind in (packet.BINARY_EVENT, packet.BINARY_ACK)
        if binary != (attachments > 0):
            raise MalformedPacket("attachment count does not match the packet type")
        if kind in (packet.EVENT, packet.BINARY_EVENT):
            if not _is_event(data):
                raise MalformedPacket("an event must be [name, ...args]")
            if kind == packet.EVENT:
                _ack_id.set(self.id)
        elif kind in (packet.ACK, packet.BINARY_ACK):
            if not isinstance(data, list) or self.id is None:
                raise MalformedPacket("an ack must carry an id and a list")
        elif kind == packet.CONNECT:
            if data is not None and not isinstance(data, dict):
                raise MalformedPacket("CONNECT takes an object")
        elif kind != packet.DISCONNECT:  # CONNECT_ERROR only goes to clients; the rest is no type
            raise MalformedPacket(f"no packet type {kind!r} from a client")
        return attachments

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        """python-socketio's check, same answers, for every packet the server builds (each
        emit, each ack): its version builds a list at every level, 4-6 % of the server's CPU in
        a games profile. orjson encodes no bytes-like value, so a payload it encodes holds none
        (0.5 us for a `match_found`, 17 us before); what it refuses is looked into, lists and
        dicts only, as python-socketio does."""
        try:
            orjson.dumps(data)
        except TypeError:  # bytes, or a type orjson doesn't encode, or an int beyond 64 bits
            return _holds_binary(data)
        return False

    def add_attachment(self, attachment):
        complete = super().add_attachment(attachment)
        if complete and self.packet_type == packet.BINARY_EVENT:
            _ack_id.set(self.id)  # its handler runs now
        return complete


def _holds_binary(data: Any) -> bool:
    kind = type(data)
    if kind in _SCALARS:
        return False
    if kind is dict or (kind is not list and isinstance(data, dict)):
        items = data.values()
    elif kind is list or isinstance(data, list):
        items = data
    else:
        return isinstance(data, _BINARY)
    return any(type(item) not in _SCALARS and _holds_binary(item) for item in items)


def _is_event(data: Any) -> bool:
    if not isinstance(data, list) or not data:
        return False
    name = data[0]
    if isinstance(name, str):
        return name not in RESERVED_EVENTS
    # Socket.IO allows numeric event names; they reach the catch-all handler
    return isinstance(name, _NUMBERS) and not isinstance(name, bool)


_NUMBERS = (int, float)
_SCALARS = frozenset({str, int, float, bool, type(None)})
_BINARY = (bytes, bytearray)
_NOT_DECODED = -1


def current_ack_id() -> int | None:
    """The ack id of the event being handled (in this thread), None if it asked for no ack."""
    return _ack_id.get(_NOT_DECODED)


def asked_for_ack() -> bool:
    """Whether the event being handled (in this thread) asked for an ack."""
    return current_ack_id() is not None


def refusal(refused: Refused) -> dict:
    """The ack of a refusal: `{ok: false, code, error, ...details}`."""
    return {"ok": False, **refused.to_wire()}


def error_event(event: str, answer: dict) -> dict:
    """The `error` event of a refused event whose client asked for no ack."""
    return {"event": event, **{k: v for k, v in answer.items() if k != "ok"}}


def shown(event: Any) -> str:
    """An event name as refusals quote it."""
    return (event if isinstance(event, str) else repr(event))[:100]


def refuse(exc: Exception) -> dict:
    """Flask-SocketIO's default error handler: every handler's refusal or failure ends here.

    The answer is the ack; a client that asked for none gets it as an `error` event."""
    if isinstance(exc, Refused):
        answer = refusal(exc)
    else:
        log.error("handler failed for %s", request_sid(), exc_info=exc)
        answer = refusal(internal_error())
    if not asked_for_ack():
        emit("error", error_event(_event_name(), answer))  # to this client
    return answer


def request_sid() -> str:
    """The Socket.IO session of the event being handled (Flask-SocketIO sets `request.sid`)."""
    sid: str = request.sid  # type: ignore[attr-defined]  # not in Flask's Request type
    return sid


def _event_name() -> str:
    event: dict[str, Any] = request.event  # type: ignore[attr-defined]  # set by Flask-SocketIO
    name, args = event["message"], event["args"]
    if name == "*" and args:  # the catch-all handler: the client's event name comes first
        name = args[0]
    return shown(name)


# ---------------------------------------------------------------- the request context of events

SOCKETIO_PATH = "/socket.io"  # the test client's environ has no trailing slash


def _is_socketio(flask_request: Any) -> bool:
    return flask_request.environ.get("PATH_INFO", "").startswith(SOCKETIO_PATH)


class _EventSessions(SecureCookieSessionInterface):
    """No cookie session for Socket.IO events (nothing here uses one): Flask's own opening
    builds a signing serializer each time."""

    def open_session(self, app: Flask, flask_request: Any) -> Any:
        if _is_socketio(flask_request):
            return NullSession()
        return super().open_session(app, flask_request)


class EventApp(Flask):
    """Flask, with the request context Flask-SocketIO pushes around every event handler made
    cheap through Flask's public extension points: no URL adapter (an event routes no URL, and
    binding and matching one took most of the cost) and no cookie session. Measured in
    threading mode, 5,000 `typing` events: 140 us of CPU per event with Flask's defaults,
    60 us with these two (the Router that bypassed Flask-SocketIO: 32 us). Popping it runs
    `do_teardown_request` (blueprint lookups through the request proxy, a signal): skipped when
    nothing would hear it, 2.5 % of the server's CPU in a games profile."""

    session_interface = _EventSessions()

    def create_url_adapter(self, flask_request: Any) -> Any:
        if flask_request is not None and _is_socketio(flask_request):
            return None
        return super().create_url_adapter(flask_request)

    def do_teardown_request(self, *exc: Any) -> None:
        if self.teardown_request_funcs or request_tearing_down.receivers:
            super().do_teardown_request(*exc)


# ---------------------------------------------------------------- answers sent later


def answer_later(
    server: socketio.Server, sid: str, ack_id: int | None, event: str, work: Callable[[], dict]
) -> Callable[[], None]:
    """What a handler defers when its answer waits (a group commit): run `work`, then send its
    answer as the ack `ack_id`, or as the `error` event if the client asked for no ack and was
    refused. The ACK packet is built with the server's packet class and sent with engineio's
    public `send`, as python-socketio sends the ack of a handler's return value."""

    def run() -> None:
        try:
            answer = work()
        except Refused as refused:
            answer = refusal(refused)
        except Exception:
            log.exception("handler failed for %s", sid)
            answer = refusal(internal_error())
        if ack_id is not None:
            eio_sid = server.manager.eio_sid_from_sid(sid, "/")
            if eio_sid is not None:  # else the client is gone
                ack = server.packet_class(packet.ACK, namespace="/", id=ack_id, data=[answer])
                server.eio.send(eio_sid, ack.encode())
        elif not answer.get("ok"):
            server.emit("error", error_event(event, answer), to=sid)

    return run


# ---------------------------------------------------------------- the Engine.IO message guard


def after_connect(work: Callable[[], None]) -> bool:
    """Queue `work` to run once the answer to the client's CONNECT has been sent, before the
    connection's next packet (see guard_messages); False where nothing can be queued
    (Flask-SocketIO's test client calls python-socketio directly): the caller runs it."""
    queued = _after_connect.get()
    if queued is None:
        return False
    queued.append(work)
    return True


def guard_messages(server: socketio.Server) -> None:
    """Wrap the Engine.IO `message` handler python-socketio registered (`eio.on` is public)."""
    eio = server.eio
    deliver = eio.handlers["message"]

    def on_message(eio_sid: str, data: Any) -> None:
        queued: list[Any] = []
        _after_connect.set(queued)
        try:
            deliver(eio_sid, data)
        except ValueError:  # MalformedPacket, and python-socketio's own protocol errors
            close_transport(eio, eio_sid)
            # for whoever wrapped this handler to log: under eventlet the transport's session
            # gate (one line per packet, rate-limited), else engineio
            raise
        finally:
            _after_connect.set(None)
        for work in queued:
            try:
                work()
            except Exception:
                log.exception("post-connect work failed for %s", eio_sid)

    eio.on("message", on_message)


def close_transport(eio: Any, eio_sid: str) -> None:
    """End an Engine.IO session now: a CLOSE packet, then the transport closes (the client sees
    a transport close, not a Socket.IO DISCONNECT, and may reconnect). Not `eio.disconnect`: it
    waits for the session's queue to drain, so a long-polling client with no poll pending
    would hold the calling request (this very POST) for good."""
    session = eio.sockets.get(eio_sid)
    if session is not None:
        session.close(wait=False, abort=False, reason=eio.reason.TRANSPORT_ERROR)


# ---------------------------------------------------------------- the domain's Outbox


class SocketOutbox:
    """The domain's Outbox on top of the Socket.IO server."""

    def __init__(self, server: socketio.Server):
        self._server = server

    @property
    def server(self) -> socketio.Server:
        return self._server

    def emit(self, event, data, *, to=None, skip_sid=None):
        self._server.emit(event, data, to=to, skip_sid=skip_sid)

    def join(self, sid, room):
        self._server.enter_room(sid, room)

    def leave(self, sid, room):
        self._server.leave_room(sid, room)

    def disconnect(self, sid):
        self._server.disconnect(sid)
