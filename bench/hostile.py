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

And those of issue 21, each a Socket.IO client over a raw WebSocket from its own address
(`RawClient`):
- claim_burst: every 5 s, 30 guests claim their names at once (item 1: at most
  PASSWORD_HASH_CONCURRENCY hashes at once, the rest queued or refused busy, or over the
  address's password limit);
- guess_password: a stranger guesses a claimed name's password 2 a second while its owner logs
  in from another address every 10 s with its device token (item 3: the owner is never refused);
- report_flood: 10 guests of one address report one message and others, over and over (item 6:
  a repeat changes nothing, then the reports rate limit);
- dm_junk: junk DMs to an offline claimed name, then its owner logs in and fetches them all
  with dm_unread (items 7 and 13: the unread cap refuses the junk, the owner's log-in is served);
- look_alike: names with a dotless i and a dot above, of a name online (item 5: refused).
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
    """A raw WebSocket, or None if the server refused it (what came after the handshake's
    answer, the Engine.IO OPEN, is dropped)."""
    opened = ws_open_keeping(source, port)
    return None if opened is None else opened[0]


def ws_open_keeping(source: str, port: int) -> tuple[socket.socket, bytes] | None:
    """A raw WebSocket and the bytes read past the handshake's answer, or None if refused."""
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
    return sock, data.partition(b"\r\n\r\n")[2]


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
            (self.claim_burst, "127.0.0.8"),
            (self.guess_password, "127.0.0.9"),
            (self.report_flood, "127.0.0.10"),
            (self.dm_junk, "127.0.0.11"),
            (self.look_alike, "127.0.0.12"),
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

    # -- issue 21: accounts, reports, direct messages, look-alikes

    def _client(self, source: str) -> RawClient:
        return RawClient(source, self.port)

    def _named(self, source: str, prefix: str) -> RawClient:
        client = self._client(source)
        ack = client.call("set_username", {"username": fresh_name(prefix)})
        if not ack.get("ok"):
            client.close()
            raise RefusedError(ack.get("code"))
        return client

    def _guests(self, attack: str, source: str, prefix: str, count: int) -> list[RawClient]:
        """Up to `count` named guests of one address (JOIN_RATE may refuse some: counted)."""
        guests = []
        for _ in range(count):
            try:
                guests.append(self._named(source, prefix))
            except RefusedError as refused:
                self.count(attack, f"name {refused}")
        return guests

    def _count_ack(self, attack: str, ack: dict) -> None:
        self.count(attack, "ok" if ack.get("ok") else str(ack.get("code")))

    def claim_burst(self, source: str) -> None:
        guests = self._guests("claim_burst", source, "Claimer", 30)
        try:
            pending = [(g, g.send("claim_name", {"password": "correct horse"})) for g in guests]
            for guest, ack_id in pending:
                self._count_ack("claim_burst", guest.ack(ack_id, timeout=120))
        finally:
            for guest in guests:
                guest.close()
        self.stop_event.wait(5.0)

    def guess_password(self, source: str) -> None:
        owner_source = _neighbour(source, 100)
        name = fresh_name("Owner")
        owner = self._client(owner_source)
        owner.call("set_username", {"username": name})
        device = owner.call("claim_name", {"password": "the owners own"}).get("device")
        owner.close()
        stranger = self._client(source)
        try:
            tick = 0
            while not self.stop_event.is_set():
                ack = stranger.call("set_username", {"username": name, "password": "a guess!"})
                self.count("guess_password", f"guess {ack.get('code')}")
                tick += 1
                if tick % 20 == 0:  # every 10 s the owner logs in from its own device
                    self._owner_logs_in(owner_source, name, device)
                self.stop_event.wait(0.5)
        finally:
            stranger.close()

    def _owner_logs_in(self, source: str, name: str, device: str | None) -> None:
        owner = self._client(source)
        try:
            payload = {"username": name, "password": "the owners own", "device": device}
            ack = owner.call("set_username", payload)
            for _ in range(5):  # the password work is busy (claim_burst): as told, wait
                if ack.get("code") != "unavailable":
                    break
                self.stop_event.wait(ack.get("retry_after", 1.0))
                ack = owner.call("set_username", payload)
            self.count("guess_password", "owner logged in" if ack.get("ok") else "owner refused")
            if not ack.get("ok"):
                self.count("guess_password", f"owner refused {ack.get('code')}")
        finally:
            owner.close()

    def report_flood(self, source: str) -> None:
        author = self._named(_neighbour(source, 100), "Author")
        guests = []
        try:
            ids = [author.call("message", {"msg": f"reported {n}"}).get("id") for n in range(2)]
            guests = self._guests("report_flood", source, "Reporter", 10)
            for message_id in ids:
                for guest in guests:
                    for _ in range(2):  # the same report twice: the second changes nothing
                        ack = guest.call("report", {"id": message_id, "reason": "spam"})
                        self._count_ack("report_flood", ack)
                        if ack.get("duplicate"):
                            self.count("report_flood", "duplicate")
        finally:
            author.close()
            for guest in guests:
                guest.close()
        self.stop_event.wait(5.0)

    def dm_junk(self, source: str) -> None:
        owner_source = _neighbour(source, 100)
        name = fresh_name("Inbox")
        owner = self._client(owner_source)
        owner.call("set_username", {"username": name})
        owner.call("claim_name", {"password": "the owners own"})
        owner.close()
        spammer = self._named(source, "Junk")
        try:
            for n in range(60):  # over DM_UNREAD_PER_SENDER (50)
                if self.stop_event.is_set():
                    return
                self._count_ack("dm_junk", spammer.call("dm", {"to": name, "text": f"junk {n}"}))
                self.stop_event.wait(0.5)  # within the chat rate limit (2 a second)
        finally:
            spammer.close()
        owner = self._client(owner_source)
        try:
            ack = owner.call("set_username", {"username": name, "password": "the owners own"})
            self.count("dm_junk", "owner logged in" if ack.get("ok") else "owner refused")
            while ack.get("ok"):
                page = owner.call("dm_unread", {"limit": 200})
                if not page.get("messages"):
                    break
                self.count("dm_junk", "fetched", len(page["messages"]))
        finally:
            owner.close()

    def look_alike(self, source: str) -> None:
        holder = self._named(_neighbour(source, 100), "Kim")
        try:
            for _ in range(20):
                if self.stop_event.is_set():
                    return
                spelling = holder.name.replace("i", "\u0131\u0307", 1)
                guest = self._client(source)
                try:
                    self._count_ack(
                        "look_alike", guest.call("set_username", {"username": spelling})
                    )
                finally:
                    guest.close()
                self.stop_event.wait(1.0)
        finally:
            holder.close()


def fresh_name(prefix: str) -> str:
    """Unique, with an i for look_alike to dot."""
    return f"{prefix}i-{os.urandom(3).hex()}"


def _neighbour(source: str, offset: int) -> str:
    """Another loopback address for the other side of an attack (its owner, its author)."""
    *head, last = source.split(".")
    return ".".join([*head, str(int(last) + offset)])


class RawClient:
    """Socket.IO over a raw WebSocket from a chosen source address (the clients libraries
    can't choose it): events with acks, pings answered, everything else read and dropped."""

    def __init__(self, source: str, port: int, timeout: float = 30.0):
        opened = ws_open_keeping(source, port)
        if opened is None:
            raise RefusedError("handshake")
        self.sock, self._buffer = opened
        self.sock.settimeout(timeout)
        self._acks: dict[int, dict] = {}
        self._next = 1
        self.name: str | None = None
        self._read_text()  # Engine.IO OPEN
        self._send_text("40")
        while not self._read_text().startswith("4"):
            pass

    def send(self, event: str, data: dict) -> int:
        ack_id, self._next = self._next, self._next + 1
        self._send_text(f"42{ack_id}" + json.dumps([event, data]))
        return ack_id

    def ack(self, ack_id: int, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while ack_id not in self._acks:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no ack {ack_id}")
            text = self._read_text()
            if text.startswith("43"):
                body = text[2:]
                split = body.index("[")
                self._acks[int(body[:split])] = json.loads(body[split:])[0]
        return self._acks.pop(ack_id)

    def call(self, event: str, data: dict, timeout: float = 30.0) -> dict:
        answer = self.ack(self.send(event, data), timeout)
        if event == "set_username" and answer.get("ok"):
            self.name = answer["username"]
        return answer

    def close(self) -> None:
        try:
            self.sock.sendall(ws_frame(b"41", 1))
            self.sock.close()
        except OSError:
            pass

    def _send_text(self, text: str) -> None:
        self.sock.sendall(ws_frame(text.encode(), 1))

    def _read_text(self) -> str:
        while True:
            opcode, payload = self._read_frame()
            if opcode == 8:
                raise ConnectionError("closed by the server")
            if opcode != 1:
                continue
            text = payload.decode()
            if text == "2":
                self._send_text("3")
                continue
            return text

    def _read_frame(self) -> tuple[int, bytes]:
        head = self._read(2)
        opcode, size = head[0] & 0x0F, head[1] & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._read(8))[0]
        return opcode, self._read(size)

    def _read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data


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
