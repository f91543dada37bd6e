"""Chat and rock-paper-scissors over Socket.IO.

This file is the table of contents: settings, the app factory, the Socket.IO server and its
options, and `main()`, which serves it all under eventlet. Every client event is declared with
Flask-SocketIO's `on_event` / `@socketio.on` in `rpschat/web/handlers.py`, bound to adapters
(`rpschat/web/*_events.py`) that read the payload and shape the ack: the domain takes typed
arguments. What the handlers share (ack or `error` event, strict packets, connect ordering) is
in `rpschat/web/events.py`.
The rest of the `rpschat` package: `domain` (plain Python), `storage`, `web` (adapters, pages,
the message queue), `ops` (health, metrics, logs) and `composition`, which builds the services
for `create_app`. Beside it, the package `eiotransport` (the WebSocket layer under eventlet; its
`install()` is the one place that patches a library), used here through its face only.

Importing this module builds nothing: `create_app(settings)` builds an app from its `Settings`
alone, and the module's `app`, `socketio` and `services` (what `flask --app app` and the card
look for) are built from the environment on first use. `main()` builds its own.
"""

if __name__ == "__main__":  # eventlet must patch the standard library before anything uses it
    import warnings

    # eventlet warns at import that it is deprecated (README says why it stays). Its category,
    # EventletDeprecationWarning, is a plain Warning defined by the module that warns, so it
    # cannot be imported first: match it by its message, which begins with a newline.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)
    import eventlet

    eventlet.monkey_patch()

import logging
import socket
import sys

from flask import Flask
from flask_socketio import SocketIO

from eiotransport import PollingGuard, SessionLimits, TransportGuard, session_closer
from eiotransport import install as install_transport
from rpschat.composition import Services, build_services
from rpschat.config import Settings
from rpschat.ops import logs
from rpschat.ops.cli import add_commands
from rpschat.ops.metrics import Metrics
from rpschat.ops.routes import install as install_ops
from rpschat.runtime import EventletRuntime, ThreadingRuntime
from rpschat.storage.redis.client import Keys
from rpschat.web import security, wire_json
from rpschat.web.events import ClientPacket, EventApp, SocketOutbox, guard_messages
from rpschat.web.handlers import register_handlers
from rpschat.web.message_queue import QueueManager
from rpschat.web.pages import pages
from rpschat.web.record_pages import install as install_record_pages

log = logging.getLogger("rpschat")


def async_mode() -> str:
    """eventlet when `main()` patched the standard library, else plain threads (tests)."""
    eventlet = sys.modules.get("eventlet")
    return "eventlet" if eventlet and eventlet.patcher.is_monkey_patched("socket") else "threading"


def create_app(settings: Settings) -> tuple[Flask, SocketIO, Services]:
    """The Flask app, its Socket.IO server and the services, built from `settings` alone."""
    logs.configure(settings.log_level, settings.log_format)

    flask_app = EventApp(__name__)  # Flask, with cheap request contexts for events
    flask_app.config["SECRET_KEY"] = settings.secret_key
    flask_app.register_blueprint(pages)
    flask_app.after_request(security.add_security_headers)

    mode = async_mode()
    # with Redis: the message queue between nodes, on this deployment's channel
    queue = (
        QueueManager(settings.redis_url, channel=Keys(settings.redis_prefix)("socketio"))
        if settings.redis_url
        else None
    )
    sio = SocketIO(
        flask_app,
        async_mode=mode,
        client_manager=queue,
        serializer=ClientPacket,  # strict about client packets; tells handlers about acks
        json=wire_json,  # orjson where it writes and reads what the standard library would
        async_handlers=False,  # one reader per client keeps its events in order
        cors_allowed_origins=security.origin_checker(settings.allowed_origins),
        max_http_buffer_size=settings.max_frame_bytes,
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        manage_session=False,
        http_compression=False,
    )
    server = sio.server
    guard_messages(server)  # malformed packets close the connection; connect ordering
    flask_app.wsgi_app = TransportGuard(  # type: ignore[method-assign]  # Flask's middleware way
        PollingGuard(flask_app.wsgi_app, server.eio),  # Engine.IO v4 where python-engineio isn't
        max_body_bytes=settings.max_frame_bytes,
        close_session=session_closer(server.eio),
        compression=settings.websocket_compression,
    )
    # outermost: TRUST_PROXY's ProxyFix, the Host check, JSONP refused, nosniff and HSTS
    flask_app.wsgi_app = security.harden(flask_app.wsgi_app, settings)  # type: ignore[method-assign]

    if mode == "eventlet":  # with compression on, WebSockets stay engineio's and eventlet's
        install_transport(
            server,
            max_backlog_bytes=settings.max_backlog_bytes,
            compression=settings.websocket_compression,
            patches=settings.transport_patches,
            sessions=SessionLimits(
                # Socket.IO's own cap (MAX_CONNECTIONS_PER_IP, with its clear refusal) comes
                # first for clients that CONNECT; this one bounds those that never do
                per_address=2 * settings.max_connections_per_ip,
                connect_timeout=settings.connect_timeout_seconds,
                address_of=security.client_address,
            ),
        )
    runtime = EventletRuntime() if mode == "eventlet" else ThreadingRuntime()
    metrics = Metrics() if settings.metrics else None
    services = build_services(settings, runtime, SocketOutbox(server), metrics)
    register_handlers(
        sio,
        services,
        max_connections_per_ip=settings.max_connections_per_ip,
        instrument=metrics.instrument if metrics else None,
        # under eventlet a commit's answer leaves the reader free; threads answer in the handler
        defer=runtime.defer if mode == "eventlet" else None,
    )
    if queue is not None:
        queue.on_lobby_message = services.lobby.note_delivered
        queue.on_dm = services.dms.note_delivered
        queue.initialize()  # listen on the channel now, not at the first client (/readyz)
        if services.shared is not None and services.shared.link is not None:
            # a forwarded game event's answer follows the events its owner emitted for it
            services.shared.link.before_answer = queue.flush_publishes
    install_ops(flask_app, server, services, metrics)
    install_record_pages(flask_app, services.book, services.arenas)  # /game, /u, /arena
    add_commands(flask_app, services)  # flask --app app grant / revoke NAME (ops/cli.py)
    return flask_app, sio, services


_built: tuple[Flask, SocketIO, Services] | None = None
_MODULE_APP = ("app", "socketio", "services")


def __getattr__(name: str) -> object:
    """`app`, `socketio` and `services`, built from the environment on first use (Flask's CLI
    and WSGI servers look for `app`); importing this module builds nothing."""
    global _built
    if name not in _MODULE_APP:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _built is None:
        _built = create_app(Settings.from_env())
    return _built[_MODULE_APP.index(name)]


def tcp_cap(settings: Settings) -> int:
    """TCP connections per client address: a browser's Socket.IO connection may hold three for
    a moment (a poll, a POST, the WebSocket it upgrades to), and the page's own requests a few
    more."""
    per_ip = settings.max_connections_per_ip
    return 3 * per_ip + 8 if per_ip else 0


def main() -> None:
    """Serve with eventlet's WSGI server, without its 1,024-connection default cap."""
    import gc

    import eventlet

    from eiotransport.process import (
        connection_budget,
        graceful_shutdown_on_sigterm,
        raise_open_file_limit,
    )
    from eiotransport.server import serve

    settings = Settings.from_env()
    app, socketio, services = create_app(settings)
    max_connections = connection_budget(settings.max_connections, raise_open_file_limit())
    # reuse_port=False: a second server on the same port must fail, not silently share it
    listener = eventlet.listen((settings.host, settings.port), backlog=4096, reuse_port=False)
    # Accepted sockets inherit this: without it, Nagle holds back the second of two small
    # writes (an ack, then an event) until the client's delayed ACK, 40 ms later.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    graceful_shutdown_on_sigterm(listener, socketio, services)
    overrides = settings.with_overrides(max_connections=max_connections)
    log.info(logs.startup_line(overrides, logs.version(), async_mode()))
    log.info("Serving on http://%s:%d", settings.host, listener.getsockname()[1])
    # Startup's ~100,000 objects live for good: frozen, full garbage collections skip them
    # (GC while 10,000 clients connect, bench/run.py capacity: 1.2 s of CPU before, 0.4 after).
    gc.freeze()
    # eventlet.wsgi.server, WebSockets handed over to eiotransport.websocket once upgraded
    serve(
        listener,
        app,
        max_connections=max_connections,
        header_seconds=settings.request_header_seconds,
        # Behind a proxy every connection comes from the proxy: the per-address caps then
        # apply from the Engine.IO handshake on (session_gate), on the forwarded address.
        connections_per_address=0 if settings.trust_proxy else tcp_cap(settings),
    )


if __name__ == "__main__":
    main()
