"""Socket.IO packets on the wire, raw: what comes before and after the CONNECT answer, and
malformed packets closing their connection at once (the heartbeat here is 25 s + 20 s, so a
close within a few seconds is the server's doing). See docs/protocol.md, "Connecting"."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import websocket

from tests.support.clients import RawSocket, unique
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net

CLOSES_WITHIN = 3.0  # seconds; far below PING_INTERVAL + PING_TIMEOUT (45 s)


@pytest.fixture(scope="module")
def server():
    with ServerProcess({"PING_INTERVAL": "25", "PING_TIMEOUT": "20"}) as srv:
        yield srv


def ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"


def open_ws(server) -> websocket.WebSocket:
    ws = websocket.create_connection(ws_url(server), timeout=5, suppress_origin=True)
    assert ws.recv().startswith("0{")  # the Engine.IO handshake
    return ws


def frames_until(ws: websocket.WebSocket, done) -> list[str]:
    frames: list[str] = []
    while not done(frames):
        frame = ws.recv()
        if frame == "2":
            ws.send("3")
            continue
        frames.append(frame)
    return frames


def is_closed(ws: websocket.WebSocket, timeout: float) -> bool:
    """The server ended the connection within `timeout` (reading whatever came before)."""
    ws.settimeout(timeout)
    try:
        while True:
            frame = ws.recv()
            if not frame:
                return True
            assert not frame.startswith("42"), f"an event instead of a close: {frame}"
    except websocket.WebSocketConnectionClosedException:
        return True
    except websocket.WebSocketTimeoutException:
        return False
    except OSError:
        return True


def named_token(server, name: str) -> tuple[str, int]:
    """A user with a token and one lobby message; its connection then drops."""
    raw = RawSocket(server.url)
    token = raw.call("set_username", {"username": name})["token"]
    said = raw.call("message", {"msg": "before the drop"})["id"]
    raw.close()  # no Socket.IO DISCONNECT: the name is held for the grace period
    return token, said


# ---- nothing before the answer to CONNECT ---------------------------------------------------


def test_a_resume_answers_connect_before_session_and_replay(server):
    token, said = named_token(server, unique("Ada"))
    ws = open_ws(server)
    try:
        ws.send("40" + json.dumps({"token": token, "last_id": said - 1}))
        frames = frames_until(ws, lambda f: any('"replayed":true' in x for x in f))
        assert frames[0].startswith('40{"sid":'), frames
        assert frames[1].startswith('42["session",{"resumed":true'), frames
        assert json.loads(frames[2][2:])[1]["id"] == said
    finally:
        ws.close()


def test_an_event_right_after_connect_is_handled_after_the_resume(server):
    token, said = named_token(server, unique("Bea"))
    ws = open_ws(server)
    try:
        # sent before the server has answered CONNECT: the resume still comes first
        ws.send("40" + json.dumps({"token": token, "last_id": said}))
        ws.send('421["message",{"msg":"right after connecting"}]')
        frames = frames_until(ws, lambda f: any(x.startswith("431") for x in f))
        assert frames[0].startswith('40{"sid":'), frames
        assert frames[1].startswith('42["session",{"resumed":true'), frames
        ack = json.loads(frames[-1][3:])[0]
        assert ack["ok"] is True and ack["id"] > said, frames
    finally:
        ws.close()


def test_a_failed_resume_also_comes_after_the_connect_answer(server):
    ws = open_ws(server)
    try:
        ws.send("40" + json.dumps({"token": "not-a-token"}))
        frames = frames_until(ws, lambda f: len(f) >= 2)
        assert frames[0].startswith('40{"sid":'), frames
        assert frames[1].startswith('42["session",{"resumed":false'), frames
    finally:
        ws.close()


# ---- malformed packets close the connection -------------------------------------------------


MALFORMED = [
    "4abc",  # the official suite's three
    "42{}",
    '42abc["message-with-ack",1,"2",{"3":[false]}]',
    '42["connect",{"token":"x"}]',  # a reserved name would run the connect handler
    "42[]",
    '451-["x",{"_placeholder":true,"num":0}',  # a binary header that does not parse
    '45["x"]',  # a binary event without attachments
    '44{"message":"x"}',  # CONNECT_ERROR is for clients only
]


@pytest.mark.parametrize("frame", MALFORMED)
def test_a_malformed_packet_closes_the_connection_at_once(server, frame):
    raw = RawSocket(server.url)
    try:
        assert raw.call("users", {})["ok"]
        raw.send_frame(frame)
        assert raw.wait_closed(CLOSES_WITHIN), f"{frame!r} left the connection open"
        assert raw.count("error") == 0  # no `error` event: the packet was no event at all
    finally:
        raw.close()


def test_a_malformed_handshake_closes_the_connection(server):
    ws = open_ws(server)
    try:
        ws.send("4abc")  # instead of "40"
        assert is_closed(ws, CLOSES_WITHIN)
    finally:
        ws.close()


def test_a_malformed_packet_closes_a_long_polling_session(server):
    base = server.url + "/socket.io/?EIO=4&transport=polling"
    opening = requests.get(base, timeout=5).text
    sid = json.loads(opening[1:])["sid"]
    url = f"{base}&sid={sid}"
    assert requests.post(url, data="40", timeout=5).ok
    assert requests.get(url, timeout=5).text.startswith("40{")
    with ThreadPoolExecutor(1) as pending:
        poll = pending.submit(requests.get, url, timeout=CLOSES_WITHIN)  # as a client keeps one
        # answered at once, even when no poll is pending yet (it must not wait for one)
        requests.post(url, data="42{}", timeout=CLOSES_WITHIN)
        answer = poll.result()
    # long before the heartbeat: the pending poll carries Engine.IO's CLOSE, or (when it came
    # after the POST) finds the session closed
    assert answer.text == "1" or answer.status_code == 400, (answer.status_code, answer.text)
    assert requests.get(url, timeout=5).status_code == 400  # the session is gone


def test_a_malformed_post_with_no_poll_pending_is_answered_and_closes(server):
    base = server.url + "/socket.io/?EIO=4&transport=polling"
    sid = json.loads(requests.get(base, timeout=5).text[1:])["sid"]
    url = f"{base}&sid={sid}"
    assert requests.post(url, data="40", timeout=5).ok
    assert requests.get(url, timeout=5).text.startswith("40{")
    requests.post(url, data="4abc", timeout=CLOSES_WITHIN)  # must not wait for a poll
    assert requests.get(url, timeout=5).status_code == 400


def test_well_formed_packets_keep_the_connection(server):
    raw = RawSocket(server.url)
    try:
        raw.send_frame("42[7]")  # numeric event names are Socket.IO; unknown here
        raw.send_frame('42["nope",1,2,3]')
        assert raw.call("users", {})["ok"]
        assert raw.count("error") == 2
        assert raw.closed_at is None
    finally:
        raw.close()
