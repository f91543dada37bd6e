"""Socket.IO adapters: route each client event to the domain and answer it.

Handlers are thin: look up the event, call the domain, turn a refusal into
`{ok: false, error}`. The answer goes back as the ack when the client asked for one, else a
refusal goes out as an `error` event, so a client without acks still learns what went wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import socketio
from socketio import packet

from rpschat.domain.errors import Refused

log = logging.getLogger("rpschat.events")

INTERNAL_ERROR = "Something went wrong on the server; please try again."

# An event handler takes (sid, payload) and returns the ack dict. A "split" handler validates
# at once and returns a callable that does the slow part (storage) in its own task.
Handler = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Route:
    handler: Handler
    split: bool = False


class Reply:
    """Where the answer to one client event goes."""

    __slots__ = ("server", "eio_sid", "namespace", "ack_id", "event", "sid")

    def __init__(self, server, eio_sid, namespace, ack_id, event, sid):
        self.server = server
        self.eio_sid = eio_sid
        self.namespace = namespace
        self.ack_id = ack_id
        self.event = event
        self.sid = sid

    def send(self, answer: dict) -> None:
        if self.ack_id is not None:
            ack = self.server.packet_class(
                packet.ACK, namespace=self.namespace, id=self.ack_id, data=[answer]
            )
            self.server._send_packet(self.eio_sid, ack)
        elif not answer.get("ok"):
            error = {"event": self.event, "error": answer.get("error")}
            self.server.emit("error", error, to=self.sid, namespace=self.namespace)


def refusal(reason: str) -> dict:
    return {"ok": False, "error": reason}


class Router:
    """The table of client events and the one place that runs them."""

    def __init__(self, defer: Callable[..., Any]):
        self._routes: dict[str, Route] = {}
        self._defer = defer

    def add(self, event: str, handler: Handler, *, split: bool = False) -> None:
        self._routes[event] = Route(handler, split)

    def events(self) -> list[str]:
        return sorted(self._routes)

    def dispatch(self, sid: str, event: Any, payload: Any, reply: Reply) -> None:
        route = self._routes.get(event) if isinstance(event, str) else None
        if route is None:
            shown = event if isinstance(event, str) else repr(event)
            reply.event = shown[:100]
            reply.send(refusal(f"Unknown event '{shown[:100]}'."))
            return
        answer = self._run(route.handler, sid, payload)
        if callable(answer):
            self._defer(self._finish, answer, reply)
        else:
            reply.send(answer)

    def _finish(self, slow_part: Callable[[], dict], reply: Reply) -> None:
        reply.send(self._run(lambda _sid, _payload: slow_part(), reply.sid, None))

    @staticmethod
    def _run(handler: Handler, sid: str, payload: Any) -> Any:
        try:
            return handler(sid, payload)
        except Refused as refused:
            return refusal(refused.reason)
        except Exception:
            log.exception("handler failed for %s", sid)
            return refusal(INTERNAL_ERROR)


class RoutingServer(socketio.Server):
    """python-socketio's server, with events handed to a Router together with their ack id.

    python-socketio only sends a handler's return value as an ack; it never tells the handler
    whether the client asked for one, so the `error` event for ack-less clients needs this."""

    router: Router

    def _handle_event(self, eio_sid, namespace, id, data):
        namespace = namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None or not self.manager.is_connected(sid, namespace):
            return
        event = data[0] if data else None
        payload = data[1] if len(data) > 1 else None
        self.router.dispatch(sid, event, payload, Reply(self, eio_sid, namespace, id, event, sid))


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
