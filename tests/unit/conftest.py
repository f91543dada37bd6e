"""Fixtures for the fast layer: the app built in-process, driven by Flask-SocketIO's test client."""

import os
import secrets
from contextlib import contextmanager
from typing import Any

import pytest

from app import create_app
from rpschat import composition
from rpschat.config import Settings

# JOIN_RATE off: every test client has the same address (tests of that limit set it).
TEST_ENV = {
    "DATABASE_URL": "memory://",
    "SECRET_KEY": "test-secret",
    "LOG_LEVEL": "WARNING",
    "JOIN_RATE": "0",
}


class Harness:
    """One app and its clients; `join(name)` gives a named client with its ack."""

    def __init__(self, **overrides):
        settings = Settings.from_env(TEST_ENV).with_overrides(**overrides)
        self.flask_app, self.socketio, self.services = create_app(settings)
        self.clients = []

    def client(self, auth=None, headers=None, address=None):
        """`address`: the client address the server sees (harness_factory's harnesses only;
        every other client comes from the test client's one address)."""
        if address is not None:
            headers = {**(headers or {}), TEST_ADDRESS_HEADER: address}
        client = self.socketio.test_client(self.flask_app, auth=auth, headers=headers)
        self.clients.append(client)
        return client

    def join(self, name, auth=None, address=None):
        client = self.client(auth=auth, address=address)
        ack = client.emit("set_username", {"username": name}, callback=True)
        assert ack["ok"], ack
        client.get_received()
        return client, ack

    def moderator(self, name, password="correct horse"):
        """A client logged in to `name`'s account, which the operator made a moderator (as
        `flask grant NAME` does: the account is created if the name is not claimed)."""
        services = self.services
        services.roles.designate(name, lambda: password, services.claims.passwords)
        client = self.client()
        payload = {"username": name, "password": password}
        assert client.emit("set_username", payload, callback=True)["ok"]
        client.get_received()
        return client

    def drop(self, client):
        """The connection is lost (network, closed tab), as opposed to a deliberate disconnect."""
        self.socketio.server._handle_eio_disconnect(client.eio_sid, "transport close")
        client.connected.pop("/", None)

    def close(self):
        for client in self.clients:
            if client.is_connected():
                client.disconnect()
        self.services.close()


class HeldTimer:
    def __init__(self, due: float, fn: Any, args: tuple):
        self.due, self.fn, self.args, self.cancelled = due, fn, args, False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        if not self.cancelled:
            self.fn(*self.args)


class HeldClock:
    """The harness's clock and timers in the test's hands: `runtime.now()` moves only with
    `advance(seconds)`, which fires the timers that came due, in order. A test of what happens
    when time runs out then never races a short real timer (a loaded machine stalls a test for
    longer than 0.2 s)."""

    def __init__(self, runtime: Any):
        self._start, self.elapsed = runtime.now(), 0.0
        self._timers: list[HeldTimer] = []
        runtime.now = self.now
        runtime.call_later = self.call_later

    def now(self) -> float:
        return self._start + self.elapsed

    def call_later(self, seconds: float, fn: Any, *args: Any) -> HeldTimer:
        timer = HeldTimer(self.now() + max(0.0, seconds), fn, args)
        self._timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds
        while due := [t for t in self._timers if t.due <= self.now()]:
            timer = min(due, key=lambda t: t.due)
            self._timers.remove(timer)
            timer.fire()  # may arm new timers, due now or later

    def pending(self) -> list[float]:
        """When the armed timers are due, in seconds from now."""
        return sorted(t.due - self.now() for t in self._timers if not t.cancelled)


@contextmanager
def harness_maker():
    """make(**overrides) -> a Harness; all of them closed at the end."""
    made = []

    def make(**overrides):
        harness = Harness(**overrides)
        made.append(harness)
        return harness

    try:
        yield make
    finally:
        for harness in made:
            harness.close()


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is not reachable ({exc}); CI=true requires it")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable ({exc})")


@pytest.fixture
def redis_keys():
    """A key prefix of this test's own on the test Redis, deleted afterwards."""
    from rpschat.storage.redis.client import Keys, connect

    require_redis()
    client = connect(REDIS_URL)
    keys = Keys(f"rpschat-test-{secrets.token_hex(4)}")
    yield keys
    doomed = list(client.scan_iter(match=f"{keys.prefix}:*", count=1000))
    if doomed:
        client.delete(*doomed)
    client.close()


def pytest_generate_tests(metafunc):
    """A test module with `SHARED_STATES = ("memory", "redis")` runs every harness test twice:
    with the services' shared state in this process, and in Redis as a node with REDIS_URL keeps
    it (Socket.IO's in-process manager still: the test client can't use the Redis message queue,
    which the network tests cover)."""
    states = getattr(metafunc.module, "SHARED_STATES", None)
    if states and "harness_factory" in metafunc.fixturenames:
        metafunc.parametrize("shared_state", states, indirect=True)


@pytest.fixture
def shared_state(request) -> str:
    """Where harnesses keep the chat's and the games' shared state: "memory" or "redis"."""
    return getattr(request, "param", "memory")


TEST_ADDRESS_HEADER = "X-Test-Address"


def _test_address(environ):
    """Flask-SocketIO's test client can't set REMOTE_ADDR: a header stands in for it."""
    from rpschat.web import security

    return environ.get("HTTP_X_TEST_ADDRESS") or security.client_address(environ)


@pytest.fixture
def harness_factory(request, shared_state, monkeypatch):
    from rpschat.web import handlers

    monkeypatch.setattr(handlers, "client_address", _test_address)
    if shared_state == "redis":
        from rpschat.storage.redis.state import RedisState

        keys = request.getfixturevalue("redis_keys")

        def open_redis_state(settings):
            return RedisState(
                REDIS_URL,
                keys.prefix,
                token_ttl_seconds=settings.token_ttl_seconds,
                node_ttl_seconds=settings.node_ttl_seconds,
            )

        monkeypatch.setattr(composition, "open_shared_state", open_redis_state)
    with harness_maker() as make:
        yield make


@pytest.fixture
def harness(harness_factory):
    return harness_factory()


def _payload(record):
    # the test client unwraps the args of events named 'message' (its send() shorthand)
    if record["name"] in ("message", "json"):
        return record["args"]
    return record["args"][0] if record["args"] else None


def events(client, name):
    """The payloads of every `name` event the client received since the last call."""
    return [_payload(r) for r in client.get_received() if r["name"] == name]


def received(client):
    return [(r["name"], _payload(r)) for r in client.get_received()]
