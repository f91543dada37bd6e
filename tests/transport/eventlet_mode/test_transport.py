"""The transport as install() sets it up under eventlet, in this (monkey-patched) process: the
patches in place, a detached WebSocket served end to end, the FrameWriter on eventlet's hub, the
shared heartbeat, the lean environ."""

from __future__ import annotations

import time

import engineio.payload
import eventlet
import eventlet.hubs
import pytest
from engineio.socket import Socket

from eiotransport import engine, pinger, websocket
from eiotransport.install import MAX_PACKETS_PER_POST, PATCHES, _wait_writable
from eiotransport.writer import FrameWriter, Loop
from tests.support.rawws import opened

real_socket = eventlet.patcher.original("socket")


def until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        eventlet.sleep(0.01)


def test_install_puts_every_patch_in_place(served):
    _, sio = served()
    assert Socket.send is engine.send
    assert Socket.close is engine.close
    assert Socket._upgrade_websocket is websocket.upgrade_websocket
    assert Socket.schedule_ping is pinger.schedule_ping
    assert sio.eio.start_service_task is False
    assert engineio.payload.Payload.max_decode_packets == MAX_PACKETS_PER_POST
    transport = sio.eio.eiotransport
    assert transport.patches == tuple(PATCHES) and transport.detached


def test_a_websocket_is_detached_and_served_end_to_end(served):
    url, sio = served()
    raw, hello = opened(url)
    try:
        eio_socket = sio.eio.sockets[hello["sid"]]
        assert isinstance(eio_socket.websocket, websocket.DetachedWebSocket)
        assert eio_socket.queue is websocket.NO_QUEUE  # no queue, no writer thread
        raw.send('421["users",{}]')
        assert raw.text().startswith('431[{"ok":true')
        # the session keeps a lean environ (python-socketio holds it for the connection's life);
        # Flask-SocketIO's request context around each handler leaves `werkzeug.request` = None
        kept = sio.environ[hello["sid"]]
        assert set(kept) - {"werkzeug.request"} <= set(engine.KEPT_ENVIRON)
        assert kept.get("werkzeug.request") is None
    finally:
        raw.close()


def test_the_shared_heartbeat_pings_and_drops_a_silent_client(served):
    url, sio = served(ping_interval=1, ping_timeout=1)
    assert sio.eio.eiotransport.pinger is not None
    started = time.monotonic()
    raw, _ = opened(url)
    try:
        texts, code = raw.until_closed(timeout=10)
        assert texts[:1] == ["2"] and code == 1000
        assert time.monotonic() - started < 4
    finally:
        raw.close()


def eventlet_loop(dropped: list) -> Loop:
    hub = eventlet.hubs.get_hub()
    return Loop(
        spawn=eventlet.spawn_n,
        call_soon=lambda fn: hub.schedule_call_global(0, fn),
        wait_writable=_wait_writable,
        on_overflow=dropped.append,
    )


def test_frames_written_in_one_pass_leave_together_at_its_end():
    ours, peer = real_socket.socketpair()
    ours.setblocking(False)
    peer.setblocking(False)
    try:
        writer = FrameWriter(ours, eventlet_loop([]), 1 << 20)
        writer.write(b"ack,")
        writer.write(b"event")
        with pytest.raises(BlockingIOError):
            peer.recv(100)  # nothing before the pass ends
        received = []

        def read():
            try:
                received.append(peer.recv(100))
            except BlockingIOError:
                pass
            return received

        until(read)
        assert received == [b"ack,event"]
    finally:
        ours.close()
        peer.close()


def test_a_peer_that_stops_reading_is_dropped_past_the_backlog():
    ours, peer = real_socket.socketpair()
    ours.setblocking(False)
    ours.setsockopt(real_socket.SOL_SOCKET, real_socket.SO_SNDBUF, 4096)
    try:
        dropped = []
        writer = FrameWriter(ours, eventlet_loop(dropped), 64 * 1024, owner="the session")
        for _ in range(100):  # 1 MB, never read
            writer.write(b"x" * 10_000)
            eventlet.sleep(0)
            if dropped:
                break
        until(lambda: dropped)
        assert dropped == ["the session"] and writer.closed
    finally:
        ours.close()
        peer.close()


def test_an_http_connection_is_freed_when_it_closes_not_by_the_cycle_collector(served):
    """eventlet's environ holds a `set_idle` closure over its protocol, which holds the
    environ: each connection (its buffers, socket wrappers, environ) waited for the cyclic
    collector. The server's own `set_idle` closes over the connection state only."""
    import gc

    import eventlet.wsgi
    import requests

    url, _ = served()
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):  # a new connection each, closed after its answer
            answer = requests.get(f"{url}/socket.io/?EIO=4&transport=polling", timeout=5)
            assert answer.status_code == 200
        eventlet.sleep(0.2)  # the server's green threads end
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        cycles = [o for o in gc.garbage if isinstance(o, eventlet.wsgi.HttpProtocol)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert cycles == []
