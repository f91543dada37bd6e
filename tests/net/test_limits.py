"""Limits over the network (docs/protocol.md, "Connecting" and "Rate limits"): the chat rate
limit, a flood, frame sizes, connection counts."""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest
import requests

from rpschat.domain.errors import Code
from tests.support.clients import ChatClient, RawSocket, run_js, unique
from tests.support.refusals import error_event, refused
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net

MAX_FRAME_BYTES = 512 * 1024  # the default
TOO_FAST = re.compile(r"You are sending too fast: wait (\d+\.\d) s\.")
TOO_LONG = "A message can be at most 2000 characters."


@pytest.fixture(scope="module")
def server():
    with ServerProcess() as srv:  # default limits: RATE_LIMIT 20/10, MAX_FRAME_BYTES 512 KiB
        yield srv


def by(name):
    return lambda d: isinstance(d, dict) and d.get("name") == name


def message_frame(size: int) -> str:
    """A Socket.IO `message` event as one text frame of exactly `size` bytes."""
    head, tail = '42["message",{"msg":"', '"}]'
    frame = head + "x" * (size - len(head) - len(tail)) + tail
    assert len(frame) == size
    return frame


# ---- the chat rate limit -----------------------------------------------------------------------


def test_the_21st_rapid_message_is_refused_and_not_relayed(pool):
    watcher = pool.join(unique("Watcher"))
    ada = pool.join(unique("Ada"))
    texts = [f"{ada.name} #{i}" for i in range(21)]

    acks = ada.call_all("message", [{"msg": t} for t in texts])  # all sent at once

    assert [a["ok"] for a in acks] == [True] * 20 + [False]
    refused = TOO_FAST.fullmatch(acks[20]["error"])
    assert refused, acks[20]
    wait = float(refused.group(1))
    assert 0 < wait <= 0.5  # one token refills in 0.5 s at 20/10
    # Nothing over the limit is relayed: the watcher has the 20, in order, and not the 21st.
    marker = pool.join(unique("Marker"))
    marker.say("after the burst")
    watcher.wait_message("after the burst")
    assert [d["txt"] for d in watcher.received("message", by(ada.name))] == texts[:20]
    # The wait it names is honest: after it, the next message goes through.
    time.sleep(wait + 0.05)
    assert ada.call("message", {"msg": "after the wait"})["ok"] is True


def test_the_rate_limit_over_long_polling(pool):
    """One message at a time (each waits for its ack): see the burst tests below for why."""
    watcher = pool.join(unique("Watcher"))
    ada = pool.join(unique("Ada"), transports=["polling"])
    started = time.monotonic()
    acks = [ada.call("message", {"msg": f"{ada.name} #{i}"}) for i in range(25)]
    elapsed = time.monotonic() - started

    accepted = next((i for i, ack in enumerate(acks) if not ack["ok"]), None)
    assert accepted is not None, "25 messages in a row were all accepted"
    assert 20 <= accepted <= 20 + int(2 * elapsed), (accepted, elapsed)
    assert TOO_FAST.fullmatch(acks[accepted]["error"]), acks[accepted]
    marker = pool.join(unique("Marker"))
    marker.say("after the polling burst")
    watcher.wait_message("after the polling burst")
    relayed = watcher.received("message", by(ada.name))
    assert len(relayed) == sum(1 for ack in acks if ack["ok"])


def polling_session(url: str) -> str:
    """A long-polling Socket.IO session opened by hand; returns its request URL."""
    opened = requests.get(f"{url}/socket.io/?EIO=4&transport=polling", timeout=5)
    sid = json.loads(opened.text[1:])["sid"]
    session = f"{url}/socket.io/?EIO=4&transport=polling&sid={sid}"
    assert requests.post(session, data="40", timeout=5).text == "ok"  # as Engine.IO v4 has it
    assert requests.get(session, timeout=5).text.startswith("40")
    return session


def poll_until(session: str, wanted, timeout: float = 5.0) -> list[str]:
    """Packets from GETs until `wanted(packets)` holds or the time is up."""
    packets: list[str] = []
    deadline = time.monotonic() + timeout
    while not wanted(packets) and time.monotonic() < deadline:
        # a GET with nothing to send waits for the next ping (25 s): keep each one short
        try:
            body = requests.get(session, timeout=max(0.2, deadline - time.monotonic())).text
        except requests.Timeout:
            break
        packets += body.split("\x1e")
    return packets


def test_a_long_polling_post_of_17_events_is_answered_in_full(server):
    session = polling_session(server.url)
    requests.post(session, data="421" + json.dumps(["set_username", {"username": unique("Poll")}]))
    assert poll_until(session, lambda p: any(x.startswith("431") for x in p))
    burst = "\x1e".join(f'42{i}["message",{{"msg":"burst {i}"}}]' for i in range(2, 19))

    requests.post(session, data=burst, timeout=5)

    packets = poll_until(session, lambda p: sum(x.startswith("43") for x in p) >= 17)
    acks = [x for x in packets if x.startswith("43")]
    assert len(acks) == 17, packets[:5]


def test_the_official_client_on_long_polling_can_send_20_messages_at_once(server, pool, node):
    watcher = pool.join(unique("Watcher"))
    name = unique("Burst")
    steps = [
        {"connect": "js"},
        {"call": "set_username", "client": "js", "data": {"username": name}},
    ]
    # 20 is the chat burst: all within the rate limit. The first goes out in its own POST, the
    # other 19 are buffered meanwhile and go out together in the next one.
    steps += [{"emit": "message", "client": "js", "data": {"msg": f"burst {i}"}} for i in range(20)]
    steps += [{"call": "users", "client": "js", "data": {}, "timeout": 3000}]
    run_js({"url": server.url, "clients": {"js": {"transports": ["polling"]}}, "steps": steps})
    watcher.wait_for_count("message", 20, by(name), timeout=3)


def test_a_client_without_acks_is_told_it_is_too_fast(pool):
    ada = pool.join(unique("Ada"))
    for i in range(21):
        ada.emit("message", {"msg": f"no ack {i}"})
    error = ada.wait_for("error")
    assert error["event"] == "message"
    assert TOO_FAST.fullmatch(error["error"]), error
    # one client's events are handled in order: once this ack is back, all 21 were
    assert ada.call("users", {})["ok"]
    assert len(ada.received("error")) == 1


def test_a_flood_does_not_drown_the_others(server, pool):
    """2,000 messages as fast as one socket can send them, while two others chat."""
    watcher = pool.join(unique("Watcher"))
    ada = pool.join(unique("Ada"))
    bea = pool.join(unique("Bea"), transports=["polling"])
    flooder = RawSocket(server.url)
    flood_name = unique("Flood")
    try:
        assert flooder.call("set_username", {"username": flood_name})["ok"]

        def flood():
            for i in range(2000):
                flooder.emit("message", {"msg": f"flood {i}"})

        started = time.monotonic()
        flooding = threading.Thread(target=flood, daemon=True)
        flooding.start()
        slowest = 0.0
        for i in range(5):  # the others chat while the flood arrives
            t = time.monotonic()
            ada.say(f"ada {i}")
            bea.say(f"bea {i}")
            slowest = max(slowest, time.monotonic() - t)
        flooding.join(30)
        # an ack for an event sent after the flood: the server has read all 2,000 by now
        assert flooder.call("users", {}, timeout=30)["ok"]
        elapsed = time.monotonic() - started

        for i in range(5):
            bea.wait_message(f"ada {i}")
            ada.wait_message(f"bea {i}")
            watcher.wait_message(f"ada {i}")
            watcher.wait_message(f"bea {i}")
        assert slowest < 2.0, f"a chat message took {slowest:.2f} s to be acked during the flood"
        ada.say("after the flood")  # stored after every relayed flood message
        watcher.wait_message("after the flood")
        relayed = watcher.received("message", by(flood_name))
        # the burst, plus what refilled (2 a second) while the flood was being read
        assert 20 <= len(relayed) <= 20 + int(2 * elapsed), (len(relayed), elapsed)
        assert [d["txt"] for d in relayed[:20]] == [f"flood {i}" for i in range(20)]
        # every other message was refused, and the flooder was told so
        deadline = time.monotonic() + 10
        while flooder.count("error") < 2000 - len(relayed) and time.monotonic() < deadline:
            time.sleep(0.05)
        errors = [d for e, d in flooder.events if e == "error"]
        assert len(errors) == 2000 - len(relayed)
        assert all(TOO_FAST.fullmatch(d["error"]) for d in errors)
    finally:
        flooder.close()


# ---- frame sizes -------------------------------------------------------------------------------


def test_an_oversized_websocket_frame_closes_only_that_connection(server, pool):
    ada = pool.join(unique("Ada"))
    bea = pool.join(unique("Bea"), transports=["polling"])
    raw = RawSocket(server.url)
    try:
        assert raw.call("set_username", {"username": unique("Big")})["ok"]

        raw.send_frame(message_frame(MAX_FRAME_BYTES + 1))

        assert raw.wait_closed(5), "the connection stayed open after an oversized frame"
        ada.say("still chatting")
        bea.wait_message("still chatting")
        bea.say("me too")
        ada.wait_message("me too")
        assert all(len(t) < 100 for t in ada.texts() + bea.texts())
    finally:
        raw.close()


def test_a_frame_of_exactly_max_frame_bytes_is_read_and_refused_politely(server):
    raw = RawSocket(server.url)
    try:
        assert raw.call("set_username", {"username": unique("Edge")})["ok"]
        raw.send_frame(message_frame(MAX_FRAME_BYTES))
        assert raw.wait_closed(1) is False
        assert raw.call("users", {})["ok"]
        assert [d for e, d in raw.events if e == "error"] == [
            error_event("message", TOO_LONG, Code.BAD_MESSAGE)
        ]
    finally:
        raw.close()


def test_an_oversized_long_polling_post_closes_only_that_connection(server, pool, node):
    ada = pool.join(unique("Ada"), transports=["polling"])
    bea = pool.join(unique("Bea"))
    big = unique("Big")

    report = run_js(
        {
            "url": server.url,
            "clients": {"big": {"transports": ["polling"]}},
            "steps": [
                {"connect": "big"},
                {"call": "set_username", "client": "big", "data": {"username": big}},
                {"emit": "message", "client": "big", "data": {"msg": "x" * (MAX_FRAME_BYTES + 1)}},
                {"wait": "disconnect", "client": "big", "save": "reason"},
            ],
        }
    )

    # refused with 413: the client sees its transport fail (a WebSocket sees it closed)
    assert report["saved"]["reason"] in ("transport close", "transport error")
    ada.say("still chatting")
    bea.wait_message("still chatting")
    bea.say("me too")
    ada.wait_message("me too")
    assert not any(len(t) > 2000 for t in ada.texts() + bea.texts())


def test_an_oversized_long_polling_post_is_answered_and_leaves_nothing_open(server):
    session = polling_session(server.url)
    path = session.split(str(server.port), 1)[1]
    body = message_frame(MAX_FRAME_BYTES + 1).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: text/plain;charset=UTF-8\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        try:
            sock.sendall(body)
        except OSError:
            pass  # the server may refuse to read it all: it must still answer
        try:
            status = sock.recv(200).split(b"\r\n", 1)[0]
        except OSError as exc:  # a reset is an answer too: the connection is not kept
            status = repr(exc).encode()
    assert status, "the server closed the connection without a response"
    assert status.startswith(b"HTTP/1.1 4") or b"Reset" in status, status
    # and the session is closed
    assert requests.get(session, timeout=5).status_code == 400


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_100000_character_message_is_refused_and_the_connection_stays(pool, transport):
    watcher = pool.join(unique("Watcher"))
    ada = pool.join(unique("Ada"), transports=[transport])

    assert ada.call("message", {"msg": "y" * 100_000}) == refused(TOO_LONG, Code.BAD_MESSAGE)
    ada.emit("message", {"msg": "y" * 100_000})
    assert ada.wait_for("error") == error_event("message", TOO_LONG, Code.BAD_MESSAGE)

    assert ada.connected
    assert ada.say("a short one")["ok"]
    watcher.wait_message("a short one")
    assert not watcher.received("message", lambda d: len(d.get("txt") or "") > 2000)


# ---- connections -------------------------------------------------------------------------------


def test_one_default_server_process_holds_more_than_1024_websocket_clients(node):
    """eventlet's WSGI server stops at 1,024 connections unless told otherwise."""
    with ServerProcess({"MAX_CONNECTIONS_PER_IP": "0"}) as srv:
        crowd = 1100
        name = unique("Shouter")
        report = run_js(
            {
                "url": srv.url,
                "timeout": 20_000,
                "clients": {"shouter": {"transports": ["websocket"]}},
                "steps": [
                    {"crowd": "crowd", "count": crowd, "batch": 100, "save": "crowd"},
                    {"connect": "shouter"},
                    {"call": "set_username", "client": "shouter", "data": {"username": name}},
                    {"call": "message", "client": "shouter", "data": {"msg": "hello, crowd"}},
                    {
                        "crowd_wait": "crowd",
                        "event": "message",
                        "match": {"name": name, "txt": "hello, crowd"},
                        "timeout": 20_000,
                        "save": "received",
                    },
                ],
            },
            timeout=90,
        )
        assert report["saved"]["crowd"] == {"connected": crowd, "failed": 0, "errors": []}
        assert report["saved"]["received"] == {"received": crowd, "count": crowd}
        assert requests.get(srv.url + "/healthz", timeout=5).json() == {"ok": True}


def test_max_connections_per_ip_caps_one_address(node):
    with ServerProcess({"MAX_CONNECTIONS_PER_IP": "3"}) as srv:
        clients = [
            ChatClient(srv.url, transports=[t]) for t in ("websocket", "polling", "websocket")
        ]
        fourth = ChatClient(srv.url, connect=False)
        try:
            with pytest.raises(Exception, match="failed to connect"):
                fourth.connect()
            assert fourth.received("connect_error") == [
                {
                    "message": "Too many connections from your address.",
                    "data": {"code": "too_many_connections"},
                }
            ]
            # the three are unaffected
            clients[0].set_name(unique("Ada"))
            clients[1].set_name(unique("Bea"))
            clients[0].say("three is fine")
            clients[1].wait_message("three is fine")
            # a closed connection frees its place
            clients[2].close()
            deadline = time.monotonic() + 5
            while True:
                try:
                    fourth.connect()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            assert fourth.connected
            # how the server logs each one's disconnect: by name once named, else by sid
            leaving = [clients[0].name, clients[1].name, fourth.sio.get_sid()]
        finally:
            for client in [*clients, fourth]:
                client.close()
        for who in leaving:  # their places are free once their disconnects are handled
            assert srv.wait_for_output(lambda line, who=who: f"disconnect {who} (" in line), who

        # the official client, upgrading from polling to WebSocket, counts once per connection
        report = run_js(
            {
                "url": srv.url,
                "clients": {k: {} for k in ("a", "b", "c", "d")},
                "steps": [
                    {"connect": "a"},
                    {"connect": "b"},
                    {"connect": "c"},
                    {"upgraded": "a"},
                    {"upgraded": "b"},
                    {"upgraded": "c"},
                    {"connect": "d", "expect_error": True, "save": "d"},
                ],
            }
        )
        assert report["saved"]["d"]["error"] == "Too many connections from your address."
        assert report["saved"]["d"]["data"] == {"code": "too_many_connections"}  # err.data
        assert all(
            events[0] == ["connect", None] for k, events in report["events"].items() if k != "d"
        )
