"""RFC 6455 frames (eiotransport/frames.py): the client-to-server half that detached
WebSockets parse themselves, and the CLOSE handshake's status codes."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eiotransport.frames import FrameReader, ProtocolError, accept_key, close_reply, unmask

TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10


def frame(payload: bytes, opcode: int = TEXT, fin: bool = True, mask: bool = True, rsv=0) -> bytes:
    """A client frame, as a browser would send it."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def test_unmask_matches_the_rfc_byte_loop():
    key = b"\x01\x02\x03\x04"
    data = bytes(range(11))
    assert unmask(data, key) == bytes(b ^ key[i % 4] for i, b in enumerate(data))
    assert unmask(b"", key) == b""


def test_the_handshake_accept_key_is_the_rfc_example():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_whole_messages_of_every_length_class():
    reader = FrameReader(max_message=1 << 20)
    payloads = [b"", b"42", b"x" * 125, b"y" * 126, b"z" * 65535, b"w" * 65536]
    data = b"".join(frame(p, BINARY) for p in payloads)
    assert reader.feed(data) == [(BINARY, p) for p in payloads]


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=8), st.data())
def test_messages_split_anywhere_come_out_whole_and_in_order(payloads, data):
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    reader, out, last = FrameReader(max_message=1000), [], 0
    for cut in [*cuts, len(stream)]:
        out += reader.feed(stream[last:cut])
        last = cut
    assert out == [(TEXT, p) for p in payloads]


def test_fragments_are_joined_and_control_frames_may_come_between_them():
    reader = FrameReader(max_message=100)
    data = (
        frame(b'42["mes', TEXT, fin=False)
        + frame(b"ping!", PING)
        + frame(b'sage",', CONT, fin=False)
        + frame(b"{}]", CONT)
    )
    assert reader.feed(data) == [(PING, b"ping!"), (TEXT, b'42["message",{}]')]


# ids by name: the frames hold random mask keys, and pytest-xdist's workers must collect the same
# test ids
@pytest.mark.parametrize(
    "data, code",
    [
        pytest.param(frame(b"hi", mask=False), 1002, id="clients must mask"),
        pytest.param(frame(b"hi", rsv=0x40), 1002, id="no compression was agreed"),
        pytest.param(frame(b"hi", opcode=3), 1002, id="reserved opcode"),
        pytest.param(frame(b"hi", opcode=0xB), 1002, id="reserved control opcode"),
        pytest.param(frame(b"hi", CONT), 1002, id="a continuation of nothing"),
        pytest.param(
            frame(b"a", TEXT, fin=False) + frame(b"b", TEXT), 1002, id="a new message mid-message"
        ),
        pytest.param(frame(b"x" * 126, PING), 1002, id="control frames are short"),
        pytest.param(frame(b"bye", CLOSE, fin=False), 1002, id="and never fragmented"),
        pytest.param(frame(b"x" * 101), 1009, id="over the limit"),
        pytest.param(
            frame(b"x" * 60, fin=False) + frame(b"x" * 41, CONT), 1009, id="over it in fragments"
        ),
    ],
)
def test_protocol_errors_carry_the_close_code(data, code):
    with pytest.raises(ProtocolError) as raised:
        FrameReader(max_message=100).feed(data)
    assert raised.value.code == code


def test_messages_before_a_broken_frame_come_with_the_error():
    reader = FrameReader(max_message=100)
    data = frame(b"first") + frame(b"ping", PING) + frame(b"unmasked", mask=False)
    with pytest.raises(ProtocolError) as raised:
        reader.feed(data)
    assert raised.value.code == 1002
    assert raised.value.messages == [(TEXT, b"first"), (PING, b"ping")]


def test_an_oversized_message_is_refused_from_its_header_alone():
    header = frame(b"x" * 70000, BINARY)[:14]  # the payload never has to arrive
    with pytest.raises(ProtocolError) as raised:
        FrameReader(max_message=65536).feed(header)
    assert raised.value.code == 1009


def test_nothing_is_buffered_between_whole_messages():
    reader = FrameReader(max_message=100)
    reader.feed(frame(b"3"))
    assert reader._buffer == b""


@pytest.mark.parametrize(
    "payload, code",
    [
        (b"", 1000),
        (struct.pack("!H", 1001) + b"going away", 1001),
        (struct.pack("!H", 4000), 4000),
        (struct.pack("!H", 1005), 1002),  # may not be sent in a frame
        (struct.pack("!H", 999), 1002),
        (b"\x03", 1002),  # half a status code
        (struct.pack("!H", 1000) + "bye \u00e9".encode(), 1000),  # a UTF-8 reason
        (struct.pack("!H", 1000) + b"\xff\xfe", 1007),  # a reason that is not UTF-8
        (struct.pack("!H", 4001) + b"\xc3", 1007),  # cut mid-character
    ],
)
def test_a_close_is_answered_with_its_own_status_when_that_may_be_sent(payload, code):
    assert close_reply(payload) == code


def test_a_fragmented_text_that_is_not_utf8_fails_at_the_fragment_not_at_its_end():
    reader = FrameReader(max_message=1000)
    with pytest.raises(ProtocolError) as failed:
        reader.feed(frame(b"ok", fin=False) + frame(b"42\xff", CONT, fin=False))
    assert failed.value.code == 1007


def test_a_first_fragment_that_is_not_utf8_fails_at_once():
    with pytest.raises(ProtocolError) as failed:
        FrameReader(max_message=1000).feed(frame(b"\xed\xa0\x80", fin=False))  # a surrogate
    assert failed.value.code == 1007


def test_a_character_split_between_fragments_is_utf8():
    snowman = "\u2603".encode()
    reader = FrameReader(max_message=1000)
    assert reader.feed(frame(snowman[:1], fin=False)) == []
    assert reader.feed(frame(snowman[1:2], CONT, fin=False)) == []
    assert reader.feed(frame(snowman[2:], CONT)) == [(TEXT, snowman)]


def test_a_fragmented_text_that_ends_inside_a_character_fails():
    reader = FrameReader(max_message=1000)
    assert reader.feed(frame(b"a\xe2\x98", fin=False)) == []
    with pytest.raises(ProtocolError) as failed:
        reader.feed(frame(b"", CONT))
    assert failed.value.code == 1007


def test_fragmented_binary_is_not_checked_as_utf8():
    reader = FrameReader(max_message=1000)
    assert reader.feed(frame(b"\xff", BINARY, fin=False) + frame(b"\xfe", CONT)) == [
        (BINARY, b"\xff\xfe")
    ]
