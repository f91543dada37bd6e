"""The transport over a real server: heartbeats, the long-polling upgrade, WebSocket framing,
and the connection limit (eiotransport/pinger.py and websocket.py keep engineio's behaviour
while holding no green thread per idle connection).

Most tests speak WebSocket by hand over a plain socket (`Raw`), so that they control every
byte: whether pings are answered, how frames are split, what the server sends back."""

from __future__ import annotations

import json
import signal
import socket
import struct
import time

import pytest
import requests
import socketio

from tests.support.clients import ChatClient, unique
from tests.support.rawws import Raw, opened
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net

FAST_PINGS = {"PING_INTERVAL": "1", "PING_TIMEOUT": "1"}


@pytest.fixture(scope="module")
def fast():
    with ServerProcess(FAST_PINGS) as srv:
        yield srv


@pytest.fixture(scope="module")
def server():
    # A 1-s grace: a closed session's leave is announced after it (the default 10 s only made
    # the close test wait)
    with ServerProcess({"RESUME_GRACE_SECONDS": "1"}) as srv:
        yield srv


# ---- heartbeats --------------------------------------------------------------------------------


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]])
def test_a_client_that_answers_pings_stays_connected(fast, transports):
    client = ChatClient(fast.url, transports=transports)
    try:
        client.set_name(unique("Steady"))
        time.sleep(5)  # five ping cycles
        assert client.connected
        assert client.call("users", {})["ok"]
        assert client.received("disconnect") == []
    finally:
        client.close()


def test_a_client_that_stops_answering_pings_is_dropped_in_interval_plus_timeout(fast):
    start = time.monotonic()
    raw, hello = opened(fast.url)
    try:
        assert (hello["pingInterval"], hello["pingTimeout"]) == (1000, 1000)
        texts, code = raw.until_closed(timeout=10)
        took = time.monotonic() - start
        assert texts[:1] == ["2"], texts  # pinged once, never answered, then closed
        assert code == 1000
        assert 1.8 < took < 3.5, took
    finally:
        raw.close()


def test_pings_are_answered_pongs_count_and_the_session_lives_on(fast):
    raw, _ = opened(fast.url)
    try:
        deadline = time.monotonic() + 4
        pings = 0
        raw.sock.settimeout(3)
        while time.monotonic() < deadline:
            if raw.text() == "2":
                pings += 1
                raw.send("3")
        assert pings >= 3
        raw.send('420["users",{}]')
        while not (reply := raw.text()).startswith("430"):
            if reply == "2":
                raw.send("3")
        assert json.loads(reply[3:])[0]["ok"]
    finally:
        raw.close()


@pytest.mark.parametrize(
    "env",
    [{"WEBSOCKET_COMPRESSION": "true"}, {"TRANSPORT_PATCHES": "-websocket"}],
    ids=["compression", "without-the-websocket-patch"],
)
def test_engineios_own_websocket_path_still_chats(env):
    """With compression on (or the `websocket` patch left out), WebSockets are engineio's and
    eventlet's own; the heartbeat and the rest of the transport still apply."""
    with ServerProcess({**FAST_PINGS, **env}) as srv:
        alice, bob = ChatClient(srv.url), ChatClient(srv.url)
        try:
            alice.set_name(unique("Alice"))
            bob.set_name(unique("Bob"))
            alice.say("over engineio's own websocket")
            bob.wait_message("over engineio's own websocket")
            time.sleep(2.5)  # past a ping interval and timeout: the heartbeat keeps them
            assert alice.connected and bob.connected
        finally:
            alice.close()
            bob.close()


# ---- the long-polling upgrade ------------------------------------------------------------------


def test_a_long_polling_session_upgrades_to_websocket_and_chats(server):
    up = ChatClient(server.url, transports=["polling", "websocket"])
    ws = ChatClient(server.url)
    try:
        up.set_name(unique("Upgraded"))
        ws.set_name(unique("Direct"))
        deadline = time.monotonic() + 5
        while up.transport != "websocket" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert up.transport == "websocket"
        up.say("over the upgraded socket")
        ws.wait_message("over the upgraded socket")
        ws.say("and back")
        up.wait_message("and back")
    finally:
        up.close()
        ws.close()


class Polling:
    """An Engine.IO long-polling session spoken by hand (requests)."""

    def __init__(self, url: str):
        self.url = f"{url}/socket.io/?EIO=4&transport=polling"
        hello = requests.get(self.url, timeout=5).text
        self.sid = json.loads(hello[1:])["sid"]
        self.url += f"&sid={self.sid}"
        self.post("40")
        assert self.get().startswith("40")

    def get(self) -> str:
        return requests.get(self.url, timeout=10).text

    def post(self, body: str) -> None:
        assert requests.post(self.url, data=body, timeout=5).text == "ok"  # as Engine.IO v4


def test_an_upgrade_that_fails_its_probe_leaves_the_session_on_long_polling(server):
    session = Polling(server.url)
    raw = Raw(server.url, query=f"transport=websocket&sid={session.sid}")
    try:
        assert raw.status == 101
        raw.send("2notprobe")
        _, code = raw.until_closed(timeout=5)
        session.post('421["users",{}]')
        assert session.get().startswith('431[{"ok":true')
    finally:
        raw.close()


def test_an_upgrade_that_never_probes_is_closed_after_interval_plus_timeout(fast):
    session = Polling(fast.url)
    start = time.monotonic()
    raw = Raw(fast.url, query=f"transport=websocket&sid={session.sid}")
    try:
        assert raw.status == 101
        raw.until_closed(timeout=10)
        assert 1.8 < time.monotonic() - start < 3.5
    finally:
        raw.close()


def test_a_completed_upgrade_carries_the_session(server):
    session = Polling(server.url)
    raw = Raw(server.url, query=f"transport=websocket&sid={session.sid}")
    try:
        raw.send("2probe")
        assert raw.text() == "3probe"
        assert session.get() == "6"  # the pending long-poll ends with a NOOP
        raw.send("5")
        raw.send('421["users",{}]')
        while (reply := raw.text()) == "6":  # NOOPs queued for the polling side may follow
            pass
        assert reply.startswith('431[{"ok":true')
        assert requests.get(session.url, timeout=5).status_code == 400  # polling is over
    finally:
        raw.close()


# ---- WebSocket framing -------------------------------------------------------------------------


def test_fragmented_messages_and_websocket_pings_are_understood(server):
    raw, _ = opened(server.url)
    try:
        raw.send(b"ping me", opcode=9)
        assert raw.frame() == (10, b"ping me")
        raw.send('421["us', fin=False)
        raw.send(b"", opcode=9)  # a control frame between the fragments
        raw.send('ers",', opcode=0, fin=False)
        raw.send("{}]", opcode=0)
        assert raw.frame() == (10, b"")
        assert raw.text().startswith('431[{"ok":true')
    finally:
        raw.close()


@pytest.mark.parametrize(
    "frames, code",
    [
        ([dict(payload="40", mask=False)], 1002),
        ([dict(payload=b"\xff\xfe", opcode=1)], 1007),
        ([dict(payload="x", opcode=0)], 1002),
    ],
)
def test_a_broken_frame_closes_the_connection_with_its_code(server, frames, code):
    raw, _ = opened(server.url)
    try:
        for f in frames:
            raw.send(**f)
        _, got = raw.until_closed(timeout=5)
        assert got == code
    finally:
        raw.close()


def test_a_close_frame_is_answered_and_ends_the_session(server):
    other = ChatClient(server.url)
    raw, _ = opened(server.url)
    try:
        raw.send('42["set_username",{"username":"Closer"}]')
        raw.send(struct.pack("!H", 1000), opcode=8)
        _, code = raw.until_closed(timeout=5)
        assert code == 1000
        other.wait_message("Closer has left the chat!", timeout=15)
    finally:
        raw.close()
        other.close()


# ---- slow consumers ----------------------------------------------------------------------------


def test_a_client_that_stops_reading_is_dropped_and_the_others_get_everything():
    """transport.writer.FrameWriter buffers what the kernel does not take, up to
    MAX_BACKLOG_BYTES, and then drops the client instead of holding the server's memory for it.
    The kernel's own share is bounded too (SO_SNDBUF: 128 KiB, where autotuning would let it
    grow to 4 MiB), so the drop comes after a known amount, whatever the machine's defaults."""
    backlog = 262144
    env = {
        "RATE_LIMIT": "0",
        "MAX_MESSAGE_CHARS": "50000",
        "MAX_BACKLOG_BYTES": str(backlog),
        "PING_INTERVAL": "60",  # no heartbeat may be what drops it
        "RESUME_GRACE_SECONDS": "0",  # its leave is announced at once
    }
    with ServerProcess(env) as srv:
        reader = ChatClient(srv.url)
        talker = ChatClient(srv.url)
        slow = Raw(srv.url)
        try:
            reader.set_name(unique("Reader"))
            talker.set_name(unique("Talker"))
            slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            assert slow.text().startswith("0{")
            slow.send("40")
            slow_name = unique("Slow")
            slow.send("42" + json.dumps(["set_username", {"username": slow_name}]))
            reader.wait_message(f"{slow_name} has entered the chat!")
            left = f"{slow_name} has left the chat!"
            big = "x" * 49_000
            # The backlog, the kernel's 128 KiB send buffer and the client's small receive
            # buffer: the drop must come within twice that. (With the kernel left to autotune,
            # up to 4 MiB more would wait first.)
            bound = 2 * (backlog + 128 * 1024 + 64 * 1024)
            sent = 0
            for i in range(bound // len(big)):
                if reader.received("message", lambda d: d.get("txt") == left):
                    break
                talker.say(f"{i} {big}")  # at the pace the reader reads
                reader.wait_for_count("message", i + 1, lambda d: d.get("name") == talker.name)
                sent += len(big)
            reader.wait_message(left, timeout=10)
            assert sent <= bound
            assert talker.connected and reader.connected
            scraped = requests.get(srv.url + "/metrics", timeout=5).text
            assert "\nrpschat_slow_consumers_dropped_total 1.0\n" in scraped
        finally:
            for client in (reader, talker):
                client.close()
            slow.close()


# ---- the connection limit and shutdown ---------------------------------------------------------


def test_max_connections_counts_idle_websockets():
    with ServerProcess({"MAX_CONNECTIONS": "3", "MAX_CONNECTIONS_PER_IP": "0"}) as srv:
        held = [opened(srv.url)[0] for _ in range(3)]
        waiting = None
        try:
            waiting = socket.create_connection(("127.0.0.1", srv.port), timeout=1)
            waiting.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            with pytest.raises(TimeoutError):
                waiting.recv(100)  # not served while three WebSockets are held
            held.pop().close()
            waiting.settimeout(5)
            assert waiting.recv(100).startswith(b"HTTP/1.1 200")
        finally:
            for raw in held:
                raw.close()
            if waiting is not None:
                waiting.close()


def test_sigterm_tells_websocket_clients_before_the_server_goes():
    srv = ServerProcess().start()
    try:
        clients = [ChatClient(srv.url) for _ in range(3)]
        raw, _ = opened(srv.url)
        srv.proc.send_signal(signal.SIGTERM)
        for client in clients:
            client.wait_for("server_shutdown", timeout=5)
        texts, _ = raw.until_closed(timeout=5)
        assert any(t.startswith('42["server_shutdown"') for t in texts), texts
        assert srv.proc.wait(timeout=10) == 0
    finally:
        srv.stop()


# ---- what a session keeps of its handshake ---------------------------------------------------


def test_the_proxy_address_header_outlives_the_handshake_for_connect_checks():
    """Sessions keep a lean environ (transport.engine.lean_environ); the Socket.IO connect,
    which comes after the Engine.IO handshake, still sees the client address a trusted proxy
    gave."""
    env = {"TRUST_PROXY": "true", "MAX_CONNECTIONS_PER_IP": "1"}
    with ServerProcess(env) as srv:
        first = ChatClient(srv.url, headers={"X-Forwarded-For": "203.0.113.7"})
        other = ChatClient(srv.url, headers={"X-Forwarded-For": "198.51.100.1"})
        try:
            with pytest.raises(socketio.exceptions.ConnectionError):
                ChatClient(srv.url, headers={"X-Forwarded-For": "203.0.113.7"})
            assert first.connected and other.connected
        finally:
            first.close()
            other.close()
