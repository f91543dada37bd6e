"""RFC 6455 over a real server, with hand-built frames (plain eventlet and Node's `ws` get each
of these right): what comes back when several frames arrive in one read, the closing
handshake without a reset, the status codes of a CLOSE, and the version negotiation."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from tests.support.rawws import Raw, client_frame, opened
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net

CLOSE, PING, PONG = 8, 9, 10


@pytest.fixture(scope="module")
def server():
    # fast pings, so that the server closes soon
    env = {"PING_INTERVAL": "1", "PING_TIMEOUT": "1"}
    with ServerProcess(env) as srv:
        yield srv


def close_code(payload: bytes) -> int:
    return struct.unpack("!H", payload[:2])[0]


def next_control(raw: Raw) -> tuple[int, bytes]:
    """The next frame that is not an Engine.IO ping ("2") the server may have sent meanwhile."""
    while True:
        opcode, payload = raw.frame()
        if (opcode, payload) != (1, b"2"):
            return opcode, payload


def read_to_eof(raw: Raw, timeout: float = 5.0) -> bytes:
    """Everything the server still sends until it closes its side; a reset raises."""
    raw.sock.settimeout(timeout)
    rest = raw.buf
    while chunk := raw.sock.recv(65536):
        rest += chunk
    return rest


def assert_no_reset(raw: Raw) -> None:
    """A reset that arrives after the FIN was read is only seen in SO_ERROR (EPIPE/ECONNRESET)."""
    assert raw.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


def test_a_ping_and_a_close_in_one_read_get_the_pong_then_the_close(server):
    raw, _ = opened(server.url)
    try:
        raw.sock.sendall(
            client_frame(b"are you there", PING) + client_frame(struct.pack("!H", 1000), CLOSE)
        )
        assert next_control(raw) == (PONG, b"are you there")
        opcode, payload = next_control(raw)
        assert (opcode, close_code(payload)) == (CLOSE, 1000)
    finally:
        raw.close()


def test_a_close_whose_reason_is_not_utf8_fails_with_1007(server):
    raw, _ = opened(server.url)
    try:
        raw.send(struct.pack("!H", 1000) + b"\xff\xfe", opcode=CLOSE)
        opcode, payload = next_control(raw)
        assert (opcode, close_code(payload)) == (CLOSE, 1007)
    finally:
        raw.close()


@pytest.mark.parametrize("version", ["7", "14"])
def test_an_unsupported_version_gets_426_naming_the_one_we_speak(server, version):
    raw = Raw(server.url, version=version)
    try:
        assert raw.status == 426
        assert raw.headers.get("sec-websocket-version") == "13"
    finally:
        raw.close()


def test_a_message_before_a_broken_frame_in_the_same_read_is_delivered_then_closed(server):
    raw, _ = opened(server.url)
    try:
        raw.sock.sendall(client_frame('421["users",{}]') + client_frame("40", mask=False))
        texts, code = raw.until_closed(timeout=5)
        assert any(t.startswith('431[{"ok":true') for t in texts), texts
        assert code == 1002
    finally:
        raw.close()


def test_a_client_that_answers_the_servers_close_gets_no_reset(server):
    raw, _ = opened(server.url)  # it never answers the Engine.IO ping: the server closes
    try:
        texts, code = raw.until_closed(timeout=10)
        assert code == 1000
        raw.send(struct.pack("!H", 1000), opcode=CLOSE)  # the closing handshake's answer
        assert read_to_eof(raw) == b""
        assert_no_reset(raw)
    finally:
        raw.close()


def test_a_client_that_answers_a_protocol_error_gets_no_reset(server):
    raw, _ = opened(server.url)
    try:
        raw.send("40", mask=False)
        _, code = raw.until_closed(timeout=5)
        assert code == 1002
        started = time.monotonic()
        raw.send(struct.pack("!H", 1002), opcode=CLOSE)
        assert read_to_eof(raw) == b""  # (the server could not parse it: EOF comes after a wait)
        assert time.monotonic() - started < 4
        assert_no_reset(raw)
    finally:
        raw.close()


def test_a_client_that_sends_a_whole_oversized_frame_still_reads_the_1009(server):
    raw, _ = opened(server.url)
    try:
        # 6 MB against the default MAX_FRAME_BYTES of 512 KiB: more than the socket buffers
        # hold, so the server must read it (and discard it) for the client to finish sending
        raw.sock.sendall(client_frame(b"x" * 6_000_000))
        _, code = raw.until_closed(timeout=5)
        assert code == 1009
    finally:
        raw.close()
