"""A WebSocket spoken by hand over a plain socket, for tests that control every byte: the
handshake, masked frames out (whole, split or broken), frames in."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct


def client_frame(payload: bytes | str, opcode: int = 1, fin: bool = True, mask=True) -> bytes:
    """One client frame, masked as RFC 6455 requires unless `mask=False`."""
    if isinstance(payload, str):
        payload = payload.encode()
    n, bit = len(payload), 0x80 if mask else 0
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        mask = int.from_bytes((key * (n // 4 + 1))[:n], "little")
        payload = key + (int.from_bytes(payload, "little") ^ mask).to_bytes(n, "little")
    return head + payload


class Raw:
    """One WebSocket, spoken by hand: the handshake, masked frames out, frames in."""

    def __init__(
        self,
        url: str,
        query: str = "transport=websocket",
        timeout: float = 5.0,
        version="13",
        forwarded_for: str | None = None,
    ):
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        forwarded = f"X-Forwarded-For: {forwarded_for}\r\n" if forwarded_for else ""
        self.sock.sendall(
            f"GET /socket.io/?EIO=4&{query} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: {version}\r\n{forwarded}\r\n".encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status = int(head.split()[1])
        self.headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head.decode().split("\r\n")[1:])
        }

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed by the server")
        self.buf += data

    def send(self, payload: bytes | str, opcode: int = 1, fin: bool = True, mask=True) -> None:
        self.sock.sendall(client_frame(payload, opcode, fin, mask))

    def frame(self) -> tuple[int, bytes]:
        """The next frame from the server (servers don't mask): (opcode, payload)."""
        while len(self.buf) < 2:
            self._fill()
        opcode, n, at = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
        if n >= 126:
            at = 4 if n == 126 else 10
            while len(self.buf) < at:
                self._fill()
            n = int.from_bytes(self.buf[2:at], "big")
        while len(self.buf) < at + n:
            self._fill()
        payload, self.buf = self.buf[at : at + n], self.buf[at + n :]
        return opcode, payload

    def text(self) -> str:
        opcode, payload = self.frame()
        assert opcode == 1, (opcode, payload)
        return payload.decode()

    def until_closed(self, timeout: float) -> tuple[list[str], int | None]:
        """Read until the server ends the connection: (texts seen, close code if any)."""
        self.sock.settimeout(timeout)
        texts = []
        try:
            while True:
                opcode, payload = self.frame()
                if opcode == 8:
                    return texts, struct.unpack("!H", payload[:2])[0] if payload else None
                texts.append(payload.decode(errors="replace"))
        except ConnectionError:
            return texts, None

    def close(self) -> None:
        self.sock.close()


def opened(url: str) -> tuple[Raw, dict]:
    """A raw WebSocket session, connected to the "/" namespace: (raw, Engine.IO open data)."""
    raw = Raw(url)
    assert raw.status == 101
    hello = raw.text()
    assert hello.startswith("0{"), hello
    raw.send("40")
    assert raw.text().startswith("40{")
    return raw, json.loads(hello[1:])
