"""The long-polling to WebSocket upgrade, as Engine.IO v4 has it: no stray NOOP over the new
WebSocket, and a second WebSocket for the session accepted and closed at once (1008)."""

from __future__ import annotations

import json
import socket

import eventlet.greenio
import eventlet.patcher
import requests

from tests.support.rawws import Raw


def polling_session(url: str) -> str:
    base = f"{url}/socket.io/?EIO=4&transport=polling"
    sid = json.loads(requests.get(base, timeout=5).text[1:])["sid"]
    assert requests.post(f"{base}&sid={sid}", data="40", timeout=5).status_code == 200
    assert requests.get(f"{base}&sid={sid}", timeout=5).text.startswith("40{")
    return sid


def upgraded(url: str, sid: str) -> Raw:
    """A WebSocket for the session, upgraded with no long-poll pending at the probe."""
    raw = Raw(url, query=f"transport=websocket&sid={sid}")
    assert raw.status == 101
    raw.send("2probe")
    assert raw.text() == "3probe"
    raw.send("5")
    return raw


def test_no_stray_noop_reaches_the_websocket_after_the_upgrade(served):
    url, _ = served()
    raw = upgraded(url, polling_session(url))
    try:
        raw.send('421["users",{}]')
        # the NOOP queued at the probe to end a poll (none was pending) used to come first
        assert raw.text().startswith('431[{"ok":true')
    finally:
        raw.close()


def test_a_second_websocket_for_the_session_is_accepted_then_closed(served):
    url, sio = served()
    sid = polling_session(url)
    first = upgraded(url, sid)
    second = Raw(url, query=f"transport=websocket&sid={sid}")
    try:
        assert second.status == 101  # python-engineio alone: 400
        assert second.until_closed(timeout=5) == ([], 1008)
        first.send('421["users",{}]')  # the first one carries on
        assert first.text().startswith('431[{"ok":true')
        assert sio.eio.sockets[sid].upgraded
    finally:
        first.close()
        second.close()


def test_the_probe_is_answered_at_once_not_at_the_end_of_the_pass():
    from types import SimpleNamespace

    import eventlet

    from eiotransport.frames import TEXT, websocket_frame
    from eiotransport.websocket import DetachedWebSocket
    from eiotransport.writer import Loop

    real_socket = eventlet.patcher.original("socket")
    ours, peer = real_socket.socketpair()
    ours.setblocking(False)
    peer.setblocking(False)
    ended = []  # the end of the pass never comes in this test
    loop = Loop(spawn=None, call_soon=ended.append, wait_writable=None, on_overflow=None)
    server = SimpleNamespace(max_http_buffer_size=1_000_000, logger=None)
    session = SimpleNamespace(connected=True, server=server, sid="s", closed=False, queue=[])
    session.queue = SimpleNamespace(put=lambda pkt: None)
    transport = SimpleNamespace(loop=loop, max_backlog_bytes=1 << 20)
    try:
        ws = DetachedWebSocket(session, ours, None, transport)
        ws._upgrade_step("2probe")
        assert peer.recv(100) == websocket_frame(b"3probe", TEXT)
    finally:
        ours.close()
        peer.close()


def test_a_poll_that_comes_with_the_upgrade_lets_it_go_first(served):
    """A poll on a kept-alive connection and the UPGRADE arrive in one pass of the event loop
    (the poll first, as happens when the WebSocket's reader has just run): the UPGRADE is read
    before the poll is answered, so the poll gets 400 rather than a NOOP."""
    url, _ = served()
    sid = polling_session(url)
    host, port = url.removeprefix("http://").split(":")
    target = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    http = socket.create_connection((host, int(port)), timeout=5)
    http.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw = Raw(url, query=f"transport=websocket&sid={sid}")
    raw.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        http.sendall(
            f"POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 1\r\n\r\n3".encode()
        )
        assert http.recv(4096).startswith(b"HTTP/1.1 200")  # now a kept-alive connection
        raw.send("2probe")
        assert raw.text() == "3probe"
        http.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        raw.send("5")
        assert http.recv(4096).split(b"\r\n")[0] == b"HTTP/1.1 400 BAD REQUEST"
    finally:
        raw.close()
        http.close()


def test_a_poll_racing_the_clients_close_ends_with_a_noop(served):
    """The client polls, then closes (POST "1") on a kept-alive connection: the POST is resumed
    straight from the event loop, the poll's new connection waits to be accepted. The poll must
    still be the one that ends the session, with a NOOP, not find it gone (400)."""
    url, _ = served()
    sid = polling_session(url)
    host, port = url.removeprefix("http://").split(":")
    target = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    post = socket.create_connection((host, int(port)), timeout=5)
    post.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = f"POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 1\r\n\r\n"
    try:
        post.sendall(f"{request}3".encode())
        assert post.recv(4096).startswith(b"HTTP/1.1 200")  # now a kept-alive connection
        # The poll's connection and request go out without giving the server a pass (a plain
        # socket), then the CLOSE: the server finds both in one pass, the kept-alive POST first.
        real = eventlet.patcher.original("socket")
        poll = real.create_connection((host, int(port)), timeout=5)
        poll.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        post.sendall(f"{request}1".encode())
        poll = eventlet.greenio.GreenSocket(poll)
        answer = poll.recv(4096)
        assert answer.split(b"\r\n")[0] == b"HTTP/1.1 200 OK"
        assert answer.endswith(b"\r\n\r\n6")
        poll.close()
    finally:
        post.close()
