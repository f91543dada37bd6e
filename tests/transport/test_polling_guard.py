"""PollingGuard: Engine.IO v4 long-polling where python-engineio differs (WSGI, threading mode)."""

from __future__ import annotations

import io
import json
import threading

import engineio
import pytest

from eiotransport.polling import PollingGuard


def call(app, method="GET", query="EIO=4&transport=polling", body=b"", headers=None):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/engine.io/",
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "localhost",
        **(headers or {}),
    }
    status = []
    result = app(environ, lambda s, h: status.append(s))
    return int(status[0].split()[0]), b"".join(result).decode()


@pytest.fixture
def eio():
    server = engineio.Server(
        async_mode="threading", ping_interval=30, ping_timeout=30, monitor_clients=False
    )
    server.on("message", lambda sid, data: server.send(sid, data))
    return server


@pytest.fixture(params=["guarded", "bare"])
def app(request, eio):
    bare = engineio.WSGIApp(eio, engineio_path="engine.io")
    return PollingGuard(bare, eio, path="/engine.io/") if request.param == "guarded" else bare


def guarded(app) -> bool:
    return isinstance(app, PollingGuard)


def open_session(app) -> str:
    status, body = call(app)
    assert status == 200
    return json.loads(body[1:])["sid"]


def query(sid):
    return f"EIO=4&transport=polling&sid={sid}"


def test_a_request_without_transport_is_refused(app):
    status, _ = call(app, query="EIO=4")
    assert (status == 400) == guarded(app)  # python-engineio takes it for long-polling


def test_other_methods_are_refused_with_400(app):
    status, _ = call(app, method="PUT")
    assert status == (400 if guarded(app) else 405)


def test_a_post_is_answered_ok(app):
    sid = open_session(app)
    status, body = call(app, "POST", query(sid), b"4hello")
    assert status == 200
    assert body == ("ok" if guarded(app) else "OK")
    assert call(app, query=query(sid)) == (200, "4hello")


def test_a_payload_that_is_not_engine_io_closes_the_session(app, eio):
    sid = open_session(app)
    status, _ = call(app, "POST", query(sid), b"abc")
    assert (status == 400) == guarded(app)
    assert (sid in eio.sockets and not eio.sockets[sid].closed) != guarded(app)


def start_poll(app, eio, sid) -> tuple[threading.Thread, list]:
    """A long-poll in a thread; returns once it waits in engineio for packets."""
    session = eio.sockets[sid]
    waiting = threading.Event()
    get = session.queue.get

    def get_and_tell(*args, **kwargs):
        waiting.set()
        return get(*args, **kwargs)

    session.queue.get = get_and_tell
    out: list = []
    thread = threading.Thread(target=lambda: out.append(call(app, query=query(sid))))
    thread.start()
    assert waiting.wait(5)
    return thread, out


def test_a_second_poll_closes_the_session(eio):
    # (python-engineio would let both wait for the next packet)
    app = PollingGuard(engineio.WSGIApp(eio, engineio_path="engine.io"), eio, "/engine.io/")
    sid = open_session(app)
    thread, first = start_poll(app, eio, sid)
    assert call(app, query=query(sid) + "&t=burst")[0] == 400
    thread.join(5)
    assert first == [(200, "1")]  # CLOSE
    assert call(app, query=query(sid))[0] == 400


def test_a_client_close_ends_the_pending_poll_with_a_noop(app, eio):
    sid = open_session(app)
    thread, first = start_poll(app, eio, sid)
    assert call(app, "POST", query(sid), b"1")[0] == 200
    thread.join(5)
    assert first == [(200, "6" if guarded(app) else "")]
    assert call(app, query=query(sid))[0] == 400
