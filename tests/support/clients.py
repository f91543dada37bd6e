"""Real Socket.IO clients for the network tests.

`ChatClient` wraps python-socketio's `socketio.Client` and records every event it receives
(thread-safe), so a test can wait for what a user would see. `run_js` drives the server with the
official socket.io-client (Node, tests/support/jsclient.mjs) and returns its JSON report.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import engineio.payload
import socketio

# python-engineio decodes at most 16 packets per long-polling payload and its client drops the
# connection ("Unexpected packet from server") when a poll brings more, which the server does
# whenever more than 16 events wait for a polling client (a burst of chat). The official JS
# client has no such limit: lift it in the test process, so that python clients on long-polling
# see what a browser sees. (It changes nothing in the server process.)
engineio.payload.Payload.max_decode_packets = 100_000

ROOT = Path(__file__).resolve().parents[2]
JS_CLIENT = Path(__file__).resolve().parent / "jsclient.mjs"

Predicate = Callable[[Any], bool]


class ChatClient:
    """One python-socketio client that keeps every event it receives, in order.

    `events` is a list of `(event, data)`; `connect`, `connect_error` and `disconnect` are
    recorded too (data: None, the error, the reason)."""

    def __init__(
        self,
        url: str,
        *,
        transports: Iterable[str] | None = ("websocket",),
        headers: dict | None = None,
        auth: Any = None,
        connect: bool = True,
        wait_timeout: float = 5.0,
    ):
        self.url = url
        self.transports = list(transports) if transports is not None else None
        self.headers = dict(headers or {})
        self.auth = auth
        self.wait_timeout = wait_timeout
        self.name: str | None = None
        self.token: str | None = None
        self.events: list[tuple[str, Any]] = []
        self.arrivals: list[float] = []  # time.monotonic() when each of `events` came
        self._cond = threading.Condition()
        options = {}
        if any(key.lower() == "origin" for key in self.headers):
            # websocket-client adds an Origin of its own unless told not to: one Origin only
            options["websocket_extra_options"] = {"suppress_origin": True}
        self.sio = socketio.Client(reconnection=False, **options)
        self.sio.on("*", self._record_any)
        self.sio.on("connect", lambda: self._record("connect", None))
        self.sio.on("connect_error", lambda data=None: self._record("connect_error", data))
        self.sio.on("disconnect", lambda reason=None: self._record("disconnect", reason))
        if connect:
            self.connect()

    # ---- recording ---------------------------------------------------------------------------

    def _record_any(self, event, *args):
        self._record(event, args[0] if len(args) == 1 else (list(args) if args else None))

    def _record(self, event: str, data: Any) -> None:
        with self._cond:
            self.events.append((event, data))
            self.arrivals.append(time.monotonic())
            self._cond.notify_all()

    def received(self, event: str, predicate: Predicate | None = None) -> list:
        """Payloads of `event` received so far (a snapshot), optionally filtered."""
        with self._cond:
            return [d for e, d in self.events if e == event and (predicate is None or predicate(d))]

    def texts(self) -> list[str]:
        """The `txt` of every `message` event received so far."""
        return [d.get("txt") for d in self.received("message") if isinstance(d, dict)]

    def clear(self) -> None:
        with self._cond:
            self.events.clear()
            self.arrivals.clear()

    def wait_for(self, event: str, predicate: Predicate | None = None, timeout: float = 5.0) -> Any:
        """The first received `event` (past or future) whose payload passes `predicate`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e, data in self.events:
                    if e == event and (predicate is None or predicate(data)):
                        return data
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(e, _short(d)) for e, d in self.events[-15:]]
                    raise AssertionError(
                        f"{self.name or 'client'}: no {event!r} matching within {timeout} s; "
                        f"last events: {seen}"
                    )
                self._cond.wait(left)

    def arrival_of(
        self, event: str, predicate: Predicate | None = None, timeout: float = 5.0
    ) -> float:
        """When (time.monotonic()) the first `event` passing `predicate` came, once it has."""
        found = self.wait_for(event, predicate, timeout)
        with self._cond:
            return next(
                t
                for (e, d), t in zip(self.events, self.arrivals, strict=True)
                if e == event and d is found
            )

    def wait_for_count(
        self, event: str, count: int, predicate: Predicate | None = None, timeout: float = 5.0
    ) -> list:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [
                    d for e, d in self.events if e == event and (predicate is None or predicate(d))
                ]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{self.name or 'client'}: {len(found)} of {count} {event!r} "
                        f"within {timeout} s"
                    )
                self._cond.wait(left)

    def wait_message(self, txt: str, timeout: float = 5.0) -> dict:
        return self.wait_for(
            "message", lambda d: isinstance(d, dict) and d.get("txt") == txt, timeout
        )

    # ---- talking -----------------------------------------------------------------------------

    def connect(self) -> ChatClient:
        self.sio.connect(
            self.url,
            headers=self.headers,
            auth=self.auth,
            transports=self.transports,
            wait_timeout=self.wait_timeout,
        )
        return self

    @property
    def connected(self) -> bool:
        return self.sio.connected

    @property
    def transport(self) -> str | None:
        return self.sio.transport()

    def emit(self, event: str, data: Any = None) -> None:
        """Send without an ack callback."""
        self.sio.emit(event, data)

    def call(self, event: str, data: Any = None, timeout: float = 5.0) -> Any:
        """Send with an ack callback and return the ack."""
        return self.sio.call(event, data, timeout=timeout)

    def call_all(self, event: str, payloads: list, timeout: float = 10.0) -> list:
        """Send every payload at once, each with an ack callback, then wait for all the acks
        (in the order sent)."""
        acks: list = [None] * len(payloads)
        done = threading.Event()
        left = [len(payloads)]
        lock = threading.Lock()

        def callback_for(i):
            def callback(*args):
                acks[i] = args[0] if len(args) == 1 else list(args)
                with lock:
                    left[0] -= 1
                    if not left[0]:
                        done.set()

            return callback

        for i, payload in enumerate(payloads):
            self.sio.emit(event, payload, callback=callback_for(i))
        if payloads and not done.wait(timeout):
            raise AssertionError(f"{left[0]} of {len(payloads)} acks missing after {timeout} s")
        return acks

    def set_name(self, name: str) -> dict:
        ack = self.call("set_username", {"username": name})
        assert ack.get("ok"), ack
        self.name, self.token = ack["username"], ack["token"]
        return ack

    def say(self, msg: str) -> dict:
        ack = self.call("message", {"msg": msg})
        assert ack.get("ok"), ack
        return ack

    def lose_connection(self) -> None:
        """The WebSocket closes without the DISCONNECT packet: a lost connection, as a network
        failure or a closed laptop lid makes one (the server holds the name for its grace)."""
        self.sio.eio.ws.close()

    def disconnect(self) -> None:
        """A deliberate disconnect: on long-polling, the DISCONNECT packet reaches the server."""
        if self.sio.connected:
            if self.sio.transport() == "polling":
                self._wait_until_idle_writer()
            self.sio.disconnect()

    def _wait_until_idle_writer(self, timeout: float = 10.0) -> None:
        """python-engineio 4.15's write loop checks the connection's state after each POST and
        ends, without sending what is queued, once `disconnect()` has changed it. A loop still
        finishing its last POST when `disconnect()` runs (a busy machine) never sends DISCONNECT
        and CLOSE: the client then blocks until the next ping (25 s) and the server sees it leave
        at the ping timeout. Once the loop waits on its queue again, it sends both."""
        writer = self.sio.eio.write_loop_task
        deadline = time.monotonic() + timeout
        while writer is not None and writer.is_alive() and not _waiting_on_queue(writer):
            assert time.monotonic() < deadline, "the client's write loop is still busy"
            time.sleep(0.005)

    def close(self) -> None:
        try:
            self.disconnect()
        except Exception:  # best effort in teardown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def assert_served(url: str, headers: dict | None = None) -> None:
    """A normal client connects, names itself and chats (`headers`: e.g. the address a proxy
    forwards)."""
    ada = ChatClient(url, headers=headers)
    bea = ChatClient(url, headers=headers)
    try:
        ada.set_name(unique("Ada"))
        bea.set_name(unique("Bea"))
        ada.say("still served")
        bea.wait_message("still served")
    finally:
        ada.close()
        bea.close()


def _waiting_on_queue(thread: threading.Thread) -> bool:
    """Whether `thread` is blocked in a `queue.Queue.get` (its current stack says so)."""
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_name == "get" and frame.f_code.co_filename.endswith("queue.py"):
            return True
        frame = frame.f_back
    return False


def unique(prefix: str) -> str:
    """A name no other test uses (names are at most 32 characters)."""
    return f"{prefix[:20]}-{secrets.token_hex(3)}"


def _short(data: Any, limit: int = 120) -> str:
    text = repr(data)
    return text if len(text) <= limit else text[:limit] + "..."


def joined(url: str, name: str, **options) -> ChatClient:
    """A connected client that has set its name."""
    client = ChatClient(url, **options)
    client.set_name(name)
    return client


class ClientPool:
    """Clients made by one test, all closed at its end."""

    def __init__(self, url: str):
        self.url = url
        self.clients: list[ChatClient] = []

    def client(self, **options) -> ChatClient:
        client = ChatClient(self.url, **options)
        self.clients.append(client)
        return client

    def join(self, name: str, **options) -> ChatClient:
        client = self.client(**options)
        client.set_name(name)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()


# ---- the official JS client ------------------------------------------------------------------


def node_available() -> bool:
    return (
        shutil.which("node") is not None
        and (ROOT / "node_modules" / "socket.io-client" / "package.json").exists()
    )


def run_js(scenario: dict, timeout: float = 60.0) -> dict:
    """Run a scenario with the official socket.io-client (see jsclient.mjs for its steps)."""
    proc = subprocess.run(
        ["node", str(JS_CLIENT)],
        input=json.dumps(scenario),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    try:
        report = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise AssertionError(
            f"jsclient exited {proc.returncode} without a report:\n"
            f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"
        ) from None
    if proc.returncode != 0 or report.get("error"):
        raise AssertionError(
            f"jsclient failed ({proc.returncode}): {report.get('error')}\n"
            f"stderr: {proc.stderr[-2000:]}"
        )
    return report


# ---- a raw Engine.IO v4 / Socket.IO v5 WebSocket client ----------------------------------------


class RawSocket:
    """Socket.IO spoken by hand over one WebSocket (websocket-client): for frames that no real
    client library would send, and for floods without a client library in the way.

    Text frames: "0{...}" Engine.IO open, "2"/"3" ping/pong, "40" connect to "/",
    "42[event, data]" an event, "42<id>[...]" an event that asks for ack <id>, "43<id>[...]" an
    ack. A reader thread answers pings and keeps every "42"/"43" packet."""

    def __init__(self, url: str, origin: str | None = None, timeout: float = 5.0):
        import websocket  # websocket-client

        ws_url = url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(
            ws_url, timeout=timeout, origin=origin, suppress_origin=origin is None
        )
        self.events: list[tuple[str, Any]] = []
        self.acks: dict[int, Any] = {}
        self.closed_at: float | None = None
        self.close_reason: str | None = None
        self._cond = threading.Condition()
        self._next_ack = 1
        self._send_lock = threading.Lock()
        opening = self.ws.recv()
        assert opening.startswith("0{"), opening
        self.open = json.loads(opening[1:])
        self.ws.send("40")
        reply = self.ws.recv()
        assert reply.startswith("40"), reply
        self.sid = json.loads(reply[2:])["sid"]
        self.ws.settimeout(None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                frame = self.ws.recv()
                if not frame:
                    raise ConnectionError("closed by the server")
                if frame == "2":
                    self.send_frame("3")
                elif frame.startswith("42"):
                    event, *args = json.loads(frame[2:])
                    with self._cond:
                        self.events.append((event, args[0] if args else None))
                        self._cond.notify_all()
                elif frame.startswith("43"):
                    body = frame[2:]
                    split = body.index("[")
                    ack_id, args = int(body[:split]), json.loads(body[split:])
                    with self._cond:
                        self.acks[ack_id] = args[0] if args else None
                        self._cond.notify_all()
                elif frame.startswith("41") or frame == "1":
                    raise ConnectionError(f"server sent {frame!r}")
        except Exception as exc:  # the end of the connection, however it came
            with self._cond:
                self.close_reason = repr(exc)
                self.closed_at = time.monotonic()
                self._cond.notify_all()

    def send_frame(self, text: str) -> None:
        with self._send_lock:
            self.ws.send(text)

    def emit(self, event: str, data: Any = None) -> None:
        self.send_frame("42" + json.dumps([event, data]))

    def emit_with_ack(self, event: str, data: Any = None) -> int:
        with self._send_lock:
            ack_id = self._next_ack
            self._next_ack += 1
            self.ws.send(f"42{ack_id}" + json.dumps([event, data]))
        return ack_id

    def call(self, event: str, data: Any = None, timeout: float = 5.0) -> Any:
        ack_id = self.emit_with_ack(event, data)
        return self.wait_ack(ack_id, timeout)

    def wait_ack(self, ack_id: int, timeout: float = 5.0) -> Any:
        with self._cond:
            if not self._cond.wait_for(lambda: ack_id in self.acks, timeout):
                raise AssertionError(f"no ack {ack_id} within {timeout} s")
            return self.acks[ack_id]

    def count(self, event: str, predicate: Predicate | None = None) -> int:
        with self._cond:
            return sum(
                1 for e, d in self.events if e == event and (predicate is None or predicate(d))
            )

    def wait_closed(self, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.closed_at is not None, timeout)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # best effort in teardown
            pass
