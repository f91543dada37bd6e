"""A mix of hostile clients (issue 11) for soak.py --hostile, run beside the normal load.

Each attack runs in its own thread from its own loopback address (127.0.0.2 and up: Linux
routes all of 127/8 to lo), so that per-address caps meet the attackers and not the loadgen on
127.0.0.1. Each counts what it tried and how often the server refused or closed it:

- binary: `451000000-[...]` then 500 KB binary frames (item 2), every 2 s;
- malformed: a long-polling session posting a packet nested 60,000 deep (item 10), 2 a second;
- no_connect_polling: 60 Engine.IO handshakes a second that never send the Socket.IO CONNECT
  (item 5; refused at the per-address cap, closed after CONNECT_TIMEOUT_SECONDS);
- no_connect_websocket: 50 WebSocket sessions held without a CONNECT, replaced when closed;
- half_sent: 200 HTTP requests held half-sent (item 5), replaced when closed;
- never_polls: a named long-polling client that answers heartbeats but never polls (item 6).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
import time

import requests

NESTED = "42" + "[" * 60_000 + "]" * 60_000


def ws_frame(payload: bytes, opcode: int) -> bytes:
    """A masked client frame."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    mask = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    return head + key + (int.from_bytes(payload, "little") ^ mask).to_bytes(n, "little")


def connect_from(source: str, port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
    )


def ws_open(source: str, port: int) -> socket.socket | None:
    """A raw WebSocket with its Engine.IO OPEN read, or None if the server refused it."""
    sock = connect_from(source, port)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            sock.close()
            return None
        data += chunk
    if not data.startswith(b"HTTP/1.1 101"):
        sock.close()
        return None
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """Without blocking: has the server ended this connection (EOF, reset or a CLOSE frame)?"""
    sock.setblocking(False)
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)
    return not data or b"\x88" in data[:1] or data.startswith(b"HTTP/1.1 503")


class HostileMix:
    def __init__(self, url: str):
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.stop_event = threading.Event()
        self.counts: dict[str, dict[str, int]] = {}
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def count(self, attack: str, what: str, n: int = 1) -> None:
        with self.lock:
            row = self.counts.setdefault(attack, {})
            row[what] = row.get(what, 0) + n

    def start(self) -> None:
        attacks = [
            (self.binary, "127.0.0.2"),
            (self.malformed, "127.0.0.3"),
            (self.no_connect_polling, "127.0.0.4"),
            (self.no_connect_websocket, "127.0.0.5"),
            (self.half_sent, "127.0.0.6"),
            (self.never_polls, "127.0.0.7"),
        ]
        for attack, source in attacks:
            thread = threading.Thread(target=self._run, args=(attack, source), daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> dict:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=15)
        with self.lock:
            return {name: dict(row) for name, row in sorted(self.counts.items())}

    def _run(self, attack, source: str) -> None:
        while not self.stop_event.is_set():
            try:
                attack(source)
            except Exception as exc:  # the attacker's own trouble: count it, carry on
                self.count(attack.__name__, f"error {type(exc).__name__}")
                self.stop_event.wait(1.0)

    def _session(self, source: str) -> tuple[requests.Session, str]:
        http = requests.Session()
        http.mount("http://", SourceAdapter(source))
        base = self.url + "/socket.io/?EIO=4&transport=polling"
        answer = http.get(base, timeout=5)
        if answer.status_code != 200:
            http.close()
            raise RefusedError(answer.status_code)
        sid = json.loads(answer.text[1:])["sid"]
        return http, f"{base}&sid={sid}"

    # -- the attacks

    def binary(self, source: str) -> None:
        sock = ws_open(source, self.port)
        if sock is None:
            self.count("binary", "refused at handshake")
        else:
            try:
                sock.sendall(ws_frame(b"40", 1))
                sock.sendall(ws_frame(b'451000000-["message",{"_placeholder":true,"num":0}]', 1))
                chunk = ws_frame(b"\0" * 500_000, 2)
                sent = 0
                try:
                    for _ in range(20):
                        sock.sendall(chunk)
                        sent += 1
                except OSError:
                    pass
                self.count("binary", "tries")
                if sent < 20 or self._wait_closed(sock, 5.0):
                    self.count("binary", "closed by the server")
            finally:
                sock.close()
        self.stop_event.wait(2.0)

    def _wait_closed(self, sock: socket.socket, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if closed_by_server(sock):
                return True
            self.stop_event.wait(0.1)
        return False

    def malformed(self, source: str) -> None:
        try:
            http, url = self._session(source)
        except RefusedError:
            self.count("malformed", "refused at handshake")
            self.stop_event.wait(0.5)
            return
        try:
            http.post(url, data="40", timeout=5)
            http.post(url, data=NESTED, timeout=5)
            self.count("malformed", "tries")
            if http.post(url, data="3", timeout=5).status_code == 400:
                self.count("malformed", "session closed")
        finally:
            http.close()
        self.stop_event.wait(0.5)

    def no_connect_polling(self, source: str) -> None:
        http = requests.Session()
        http.mount("http://", SourceAdapter(source))
        try:
            for _ in range(60):
                status = http.get(
                    self.url + "/socket.io/?EIO=4&transport=polling", timeout=5
                ).status_code
                self.count("no_connect_polling", f"http {status}")
        finally:
            http.close()
        self.stop_event.wait(1.0)

    def no_connect_websocket(self, source: str) -> None:
        held: list[socket.socket] = []
        try:
            while not self.stop_event.is_set():
                for sock in [s for s in held if closed_by_server(s)]:
                    held.remove(sock)
                    sock.close()
                    self.count("no_connect_websocket", "closed by the server")
                while len(held) < 50 and not self.stop_event.is_set():
                    sock = ws_open(source, self.port)
                    if sock is None:
                        self.count("no_connect_websocket", "refused at handshake")
                        break
                    held.append(sock)
                    self.count("no_connect_websocket", "opened")
                self.stop_event.wait(1.0)
        finally:
            for sock in held:
                sock.close()

    def half_sent(self, source: str) -> None:
        held: list[socket.socket] = []
        try:
            while not self.stop_event.is_set():
                for sock in [s for s in held if closed_by_server(s)]:
                    held.remove(sock)
                    sock.close()
                    self.count("half_sent", "closed by the server")
                while len(held) < 200 and not self.stop_event.is_set():
                    sock = connect_from(source, self.port)
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    held.append(sock)
                    self.count("half_sent", "opened")
                self.stop_event.wait(1.0)
        finally:
            for sock in held:
                sock.close()

    def never_polls(self, source: str) -> None:
        http, url = self._session(source)
        try:
            http.post(url, data="40", timeout=5)
            http.get(url, timeout=5)  # the CONNECT's answer; never polled again
            name = f"Mallory-{os.urandom(3).hex()}"
            http.post(url, data="42" + json.dumps(["set_username", {"username": name}]), timeout=5)
            self.count("never_polls", "sessions")
            while not self.stop_event.is_set():
                if http.post(url, data="3", timeout=5).status_code != 200:
                    self.count("never_polls", "dropped by the server")
                    return
                self.stop_event.wait(1.0)
        finally:
            http.close()


class RefusedError(Exception):
    pass


class SourceAdapter(requests.adapters.HTTPAdapter):
    """requests from a given local address."""

    def __init__(self, source: str):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)
