"""RFC 6455 frames, both ways: pure functions and a parser, no sockets, no event loop."""

from __future__ import annotations

import base64
import codecs
import hashlib
import struct

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_frame(payload: bytes, opcode: int) -> bytes:
    """An unmasked, final WebSocket frame (RFC 6455 section 5.2), as servers send them."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload


def close_frame(code: int) -> bytes:
    return websocket_frame(struct.pack("!H", code), CLOSE)


def accept_key(key: str) -> bytes:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (section 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest())


class ProtocolError(Exception):
    """The client broke RFC 6455; `code` is the close status to answer with. `messages` are
    the complete messages that came before the fault in the same feed: deliver them first."""

    def __init__(self, code: int, reason: str, messages: list | None = None):
        super().__init__(reason)
        self.code = code
        self.messages = messages or []


def unmask(payload: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte masking key, as one big-integer operation instead of a byte loop."""
    n = len(payload)
    if not n:
        return b""
    mask = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(payload, "little") ^ mask).to_bytes(n, "little")


class FrameReader:
    """Client-to-server WebSocket frames (RFC 6455 section 5), fed bytes as they arrive.

    `feed` returns the complete messages `(opcode, payload)` in order: TEXT or BINARY with the
    fragments joined, and control frames (CLOSE, PING, PONG) as they come. A message longer than
    `max_message` is refused from its header, before its payload is buffered; a fragmented TEXT
    message that is not UTF-8 is refused at the fragment where it stops being so, not at its
    end (a whole TEXT frame is the reader's to decode). A fault raises ProtocolError carrying
    the messages that preceded it."""

    __slots__ = ("max_message", "_buffer", "_fragments", "_opcode", "_size", "_utf8")

    def __init__(self, max_message: int):
        self.max_message = max_message
        self._buffer = b""
        self._fragments: list[bytes] | None = None
        self._opcode = 0
        self._size = 0
        self._utf8: codecs.IncrementalDecoder | None = None  # a fragmented TEXT's, checking it

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        try:
            return self._feed(data, out)
        except ProtocolError as exc:
            exc.messages = out
            raise

    def _feed(self, data: bytes, out: list) -> list[tuple[int, bytes]]:
        buf = self._buffer + data if self._buffer else data
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            fin, opcode, length = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if b0 & 0x70:
                raise ProtocolError(1002, "reserved bits set (no extension was agreed)")
            if not b1 & 0x80:
                raise ProtocolError(1002, "unmasked client frame")
            header = 2
            if length == 126:
                if end - pos < 4:
                    break
                (length,) = struct.unpack_from("!H", buf, pos + 2)
                header = 4
            elif length == 127:
                if end - pos < 10:
                    break
                (length,) = struct.unpack_from("!Q", buf, pos + 2)
                header = 10
            self._check(fin, opcode, length)
            start = pos + header + 4
            if end - start < length:
                break
            payload = unmask(buf[start : start + length], buf[start - 4 : start])
            pos = start + length
            if opcode >= CLOSE or (fin and opcode):  # a control frame or a whole message
                out.append((opcode, payload))
            elif opcode:  # the first fragment
                self._fragments, self._opcode, self._size = [payload], opcode, length
                if opcode == TEXT:
                    self._utf8 = _utf8_decoder()
                    self._check_text(payload, final=False)
            else:
                fragments = self._fragments
                assert fragments is not None  # _check: a continuation follows a first fragment
                fragments.append(payload)
                self._size += length
                if self._utf8 is not None:
                    self._check_text(payload, final=bool(fin))
                if fin:
                    out.append((self._opcode, b"".join(fragments)))
                    self._fragments = self._utf8 = None
        self._buffer = buf[pos:] if pos < end else b""
        return out

    def _check_text(self, payload: bytes, final: bool) -> None:
        assert self._utf8 is not None
        try:
            self._utf8.decode(payload, final)
        except UnicodeDecodeError:
            raise ProtocolError(1007, "text message is not UTF-8") from None

    def _check(self, fin: int, opcode: int, length: int) -> None:
        if opcode >= CLOSE:
            if opcode not in (CLOSE, PING, PONG):
                raise ProtocolError(1002, f"unknown control opcode {opcode}")
            if not fin or length > 125:
                raise ProtocolError(1002, "fragmented or long control frame")
            return
        if opcode not in (CONT, TEXT, BINARY):
            raise ProtocolError(1002, f"unknown opcode {opcode}")
        if (opcode == CONT) != (self._fragments is not None):
            raise ProtocolError(1002, "unexpected continuation or missing one")
        size = length + (self._size if opcode == CONT else 0)
        if size > self.max_message:
            raise ProtocolError(1009, "message too big")


_utf8_decoder = codecs.getincrementaldecoder("utf-8")  # strict: surrogates are refused too


def close_reply(payload: bytes) -> int:
    """The status to answer a client's CLOSE frame with (RFC 6455 sections 5.5.1, 7.4): its own
    if that may be sent, 1000 if it gave none, 1007 if its reason is not UTF-8, else 1002."""
    if not payload:
        return 1000
    if len(payload) < 2:
        return 1002
    (code,) = struct.unpack_from("!H", payload)
    if not (1000 <= code <= 1011 and code not in (1004, 1005, 1006) or 3000 <= code < 5000):
        return 1002
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        return 1007
    return code
