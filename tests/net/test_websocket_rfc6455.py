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


# ---- failing the connection (RFC 6455 section 7.1.7) -------------------------------------------
# After a protocol error the server sends its CLOSE and ends TCP at once, as Node's `ws` does
# (socket.end() right after the CLOSE): it must not go on processing what the client sends,
# "including a responding Close frame", so it does not wait for one. A clean close waits.

MAX_FRAME_BYTES = 512 * 1024  # the server's default


def header(first: int, length: int) -> bytes:
    """A masked client frame's header (the masking key included) announcing `length` bytes."""
    if length < 126:
        head = bytes([first, 0x80 | length])
    elif length < 65536:
        head = bytes([first, 0x80 | 126]) + struct.pack("!H", length)
    else:
        head = bytes([first, 0x80 | 127]) + struct.pack("!Q", length)
    return head + b"\x01\x02\x03\x04"


def with_rsv(bits: int) -> bytes:
    frame = bytearray(client_frame("40"))
    frame[0] |= bits
    return bytes(frame)


FAILURES = {
    # case: (bytes the client sends, the CLOSE code it must read)
    "rsv1": (with_rsv(0x40), 1002),
    "rsv2+rsv3": (with_rsv(0x30), 1002),
    "reserved data opcode 3": (client_frame(b"x", opcode=3), 1002),
    "reserved control opcode 0xB": (client_frame(b"x", opcode=0xB), 1002),
    "unmasked frame": (client_frame("40", mask=False), 1002),
    "invalid utf-8": (
        client_frame(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"),
        1007,
    ),
    # the rest of the message never comes: the first fragment alone must fail it
    "invalid utf-8 in a first fragment": (client_frame(b"42\xff", fin=False), 1007),
    "invalid utf-8 in a continuation": (
        client_frame(b"42", fin=False) + client_frame(b"\xc0\xaf", opcode=0, fin=False),
        1007,
    ),
    "oversized frame": (header(0x81, MAX_FRAME_BYTES + 1), 1009),
    "length 2^63": (bytes([0x81, 0xFF]) + struct.pack("!Q", 2**63) + b"\x01\x02\x03\x04", 1009),
    "oversized fragmented message": (
        client_frame(b"4" * 1000, fin=False) + header(0x00, MAX_FRAME_BYTES),
        1009,
    ),
    "continuation without a first fragment": (client_frame(b"x", opcode=0), 1002),
    "a new message inside a fragmented one": (
        client_frame(b"42", fin=False) + client_frame(b"40"),
        1002,
    ),
    "fragmented ping": (client_frame(b"x", opcode=PING, fin=False), 1002),
    "ping over 125 bytes": (client_frame(b"x" * 126, opcode=PING), 1002),
}


def close_then_eof(raw: Raw, timeout: float = 5.0) -> tuple[int, float]:
    """The CLOSE's code, then the seconds from reading it to the end of the stream (a FIN; a reset
    raises)."""
    raw.sock.settimeout(timeout)
    opcode, payload = next_control(raw)
    assert opcode == CLOSE, (opcode, payload)
    read_at = time.monotonic()
    rest = raw.buf
    while chunk := raw.sock.recv(65536):
        rest += chunk
    assert rest == b"", rest  # nothing after the CLOSE
    return close_code(payload), time.monotonic() - read_at


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_a_failed_connection_ends_tcp_right_after_its_close(server, case):
    sent, expected = FAILURES[case]
    raw, _ = opened(server.url)
    try:
        raw.sock.sendall(sent)
        code, eof_after = close_then_eof(raw)
        assert code == expected
        assert eof_after < 0.1, f"TCP stayed open {eof_after:.2f} s after the CLOSE"
    finally:
        raw.close()


def test_a_clean_close_of_the_servers_still_waits_for_the_clients_close(server):
    """The other side of the rule: after a close it chose (a missed heartbeat), the server
    keeps TCP open for the client's CLOSE, which a client sends after reading the server's."""
    raw, _ = opened(server.url)  # it never answers the Engine.IO ping: the server closes
    try:
        _, code = raw.until_closed(timeout=10)
        assert code == 1000
        raw.sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            raw.sock.recv(1)  # no FIN yet: the server waits for our CLOSE
        raw.send(struct.pack("!H", 1000), opcode=CLOSE)
        assert read_to_eof(raw) == b""
    finally:
        raw.close()
