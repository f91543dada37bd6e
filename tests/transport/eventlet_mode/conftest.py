"""Tests of the transport under eventlet, in-process. They only run in a process that
eventlet has monkey-patched (tests/transport/test_eventlet_mode.py starts one); elsewhere they
are not collected.

The application they serve is the smallest python-socketio one (no Flask, nothing of rpschat):
one event, `users`, answered `{"ok": true}`, behind the transport's two WSGI middlewares."""

import sys

import pytest

eventlet = sys.modules.get("eventlet")
if eventlet is None or not eventlet.patcher.is_monkey_patched("socket"):
    collect_ignore_glob = ["test_*.py"]


def plain_app(ping_interval: float = 25.0, ping_timeout: float = 20.0):
    """-> (wsgi app, socketio.Server) with install() applied."""
    import socketio

    from eiotransport import PollingGuard, SessionLimits, TransportGuard, install, session_closer

    sio = socketio.Server(
        async_mode="eventlet", ping_interval=ping_interval, ping_timeout=ping_timeout
    )
    sio.on("users", lambda sid, data=None: {"ok": True})
    install(sio, max_backlog_bytes=1 << 20, sessions=SessionLimits(connect_timeout=10))
    app = TransportGuard(
        PollingGuard(socketio.WSGIApp(sio), sio.eio),
        max_body_bytes=int(sio.eio.max_http_buffer_size),
        close_session=session_closer(sio.eio),
    )
    return app, sio


@pytest.fixture
def served():
    """start(ping_interval=..., ping_timeout=...): a plain app served by eiotransport's
    server in this process -> (url, sio), sio being the socketio.Server."""
    from eiotransport.server import serve

    running = []

    def start(**options):
        app, sio = plain_app(**options)
        listener = eventlet.listen(("127.0.0.1", 0))
        thread = eventlet.spawn(serve, listener, app, 100)
        running.append((thread, listener))
        return f"http://127.0.0.1:{listener.getsockname()[1]}", sio

    yield start
    for thread, listener in running:
        thread.kill()
        listener.close()
