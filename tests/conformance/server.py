"""The test applications Socket.IO's official protocol suites expect, on our own stack.

`python -m tests.conformance.server` (PORT from the environment) serves, in one process:

- at `/socket.io/`, the socket.io-protocol suite's application: Flask-SocketIO with
  `@socketio.on` handlers that emit `auth` with the handshake's auth payload on connect, echo
  `message` as `message-back` (binary attachments included) and answer `message-with-ack` with
  its own arguments, on `/` and on `/custom`; any other namespace is refused;
- at `/engine.io/`, the engine.io-protocol suite's Engine.IO-level echo server.

Both run the way app.py serves the product: eventlet, the project's transport install (frame
writer, shared pinger, detached WebSockets, exact heartbeat), its WSGI guards, its strict packet
class and message guard, and the SocketIO options app.py uses wherever they apply. Only what
the suites fix differs: heartbeat 300/200 ms and a 1,000,000-byte maxPayload. Nothing here is
part of the product.
"""

if __name__ == "__main__":  # eventlet must patch the standard library before anything uses it
    import warnings

    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)
    import eventlet

    eventlet.monkey_patch()

import logging
import os
import socket
from types import SimpleNamespace

import engineio
from flask import Flask, request
from flask_socketio import ConnectionRefusedError, SocketIO, emit

from eiotransport import (
    PollingGuard,
    SessionLimits,
    TransportGuard,
    install,
    session_closer,
)
from rpschat.config import Settings
from rpschat.web import security
from rpschat.web.events import ClientPacket, guard_messages

# What both suites' test-suite.js expect of the server they talk to.
PING_INTERVAL = 0.3
PING_TIMEOUT = 0.2
MAX_PAYLOAD = 1_000_000
MAX_BACKLOG_BYTES = 1024 * 1024
MAX_ATTACHMENTS = 10  # the suite sends two
NAMESPACES = ("/", "/custom")

# The socket.io-protocol suite reads the CONNECT answer and the `auth` event with two
# consecutive `waitFor(socket, "message")` calls, and the second listener is only added once the
# first promise has resumed. When both packets arrive in one TCP read, `ws` emits the two message
# events back to back and the second one can reach no listener, so the test hangs: a flaw of the
# suite, not of a server (the reference Node.js server fails the same way now and then, and
# passes 32/32 with the same delay). Our frame writer sends everything written in one pass of
# the event loop in one `send`, which would make the pair arrive together every time; emitting
# `auth` this much later keeps the two in separate reads.
AUTH_DELAY_SECONDS = 0.02


def create_socketio_app() -> tuple[Flask, SocketIO]:
    flask_app = Flask(__name__)

    @flask_app.get("/healthz")
    def healthz():
        return "ok"

    sio = SocketIO(
        flask_app,
        async_mode="eventlet",
        cors_allowed_origins=security.origin_checker(()),
        max_http_buffer_size=MAX_PAYLOAD,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        manage_session=False,
        http_compression=False,
        async_handlers=False,  # a client's events handled in order, one after the other
        namespaces="*",  # unknown namespaces reach refuse_namespace() below
        serializer=ClientPacket,  # as app.py: strict about what clients send
    )
    guard_messages(sio.server)  # as app.py: a malformed packet closes its connection at once

    def send_auth(sid: str, namespace: str, auth) -> None:
        sio.sleep(AUTH_DELAY_SECONDS)
        sio.emit("auth", auth, to=sid, namespace=namespace)

    for namespace in NAMESPACES:

        @sio.on("connect", namespace=namespace)
        def connect(auth=None):
            # Socket.IO's reference server emits `socket.handshake.auth`, `{}` when none came.
            auth = auth if auth is not None else {}
            sio.start_background_task(send_auth, request.sid, request.namespace, auth)

        @sio.on("message", namespace=namespace)
        def message(*args):
            emit("message-back", args)  # a tuple: several arguments, as they came

        @sio.on("message-with-ack", namespace=namespace)
        def message_with_ack(*args):
            return args

    @sio.on("connect", namespace="*")
    def refuse_namespace(auth=None):
        # python-socketio answers an unknown namespace with the bare string "Unable to connect";
        # the protocol (and socket.io-client, which reads `data.message`) wants an object.
        raise ConnectionRefusedError("Invalid namespace")

    return flask_app, sio


def create_engineio_app(other_app):
    """Engine.IO echo server at /engine.io/, in front of `other_app`."""
    eio = engineio.Server(
        async_mode="eventlet",
        cors_allowed_origins=security.origin_checker(()),
        max_http_buffer_size=MAX_PAYLOAD,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        http_compression=False,
        async_handlers=False,
    )

    @eio.on("connect")
    def connect(sid, environ):
        return True

    @eio.on("message")
    def echo(sid, data):
        eio.send(sid, data)

    return eio, engineio.WSGIApp(eio, other_app, engineio_path="engine.io")


def create_wsgi_app():
    flask_app, sio = create_socketio_app()
    flask_app.wsgi_app = TransportGuard(
        PollingGuard(flask_app.wsgi_app, sio.server.eio),
        max_body_bytes=MAX_PAYLOAD,
        close_session=session_closer(sio.server.eio),
    )
    install(
        sio.server,
        max_backlog_bytes=MAX_BACKLOG_BYTES,
        # as app.py, but binary attachments are the suite's to echo (the chat takes none)
        sessions=SessionLimits(
            connect_timeout=Settings().connect_timeout_seconds, max_attachments=MAX_ATTACHMENTS
        ),
    )

    eio, eio_app = create_engineio_app(flask_app)
    # install() takes a Socket.IO server and works on its Engine.IO server: the echo server
    # gets the same transport (the class-level patches are the same, its Transport its own),
    # but the session gate, which guards python-socketio's handlers, has none to guard there.
    install(SimpleNamespace(eio=eio), max_backlog_bytes=MAX_BACKLOG_BYTES, patches="-session_gate")
    # outermost, as in app.py: the Host check, JSONP refused, nosniff (for /socket.io/)
    flask_app.wsgi_app = security.harden(flask_app.wsgi_app, Settings())
    return TransportGuard(
        PollingGuard(eio_app, eio, path="/engine.io/"),
        max_body_bytes=MAX_PAYLOAD,
        close_session=session_closer(eio),
        path="/engine.io/",
    )


def main() -> None:
    import eventlet

    from eiotransport.server import serve

    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    wsgi_app = create_wsgi_app()
    listener = eventlet.listen(("127.0.0.1", int(os.environ.get("PORT", "3000"))))
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as app.py's listener
    print(f"conformance server on port {listener.getsockname()[1]}", flush=True)
    serve(listener, wsgi_app, max_connections=1000)


if __name__ == "__main__":
    main()
