"""Readiness: can this node serve chat right now? (`/readyz`; `/healthz` is liveness only.)

Each check is a real round trip (or, for the message queue, the subscriber's own state), run
concurrently with the others under a short timeout, so a hanging dependency makes the answer
"error: timed out" within CHECK_TIMEOUT_SECONDS instead of hanging the probe. A check that is
still stuck when the next probe comes is not started a second time: probes must not pile up
threads or connections on a dead dependency. Checks keep no verdict: the first probe after a
dependency comes back passes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 1.5  # the whole probe answers within 2 s
OK = "ok"


class Check:
    """One named check: `probe()` returns a detail ("ok") or raises."""

    def __init__(self, name: str, probe: Callable[[], str], runtime: Any, blocking: bool):
        self.name = name
        self._probe = probe
        self._runtime = runtime
        self._blocking = blocking  # C drivers: on an OS thread; pure-Python (green) ones: not
        self._in_flight = False
        self._result: tuple[str | None, BaseException | None] = (None, None)
        self._done: Any = None  # the runtime's event of the probe in flight

    def start(self) -> None:
        if self._in_flight:
            return  # the previous probe is still stuck: wait on that one
        self._in_flight = True
        self._done = self._runtime.event()
        self._result = (None, None)
        self._runtime.spawn(self._run, self._done)

    def _run(self, done: Any) -> None:
        try:
            run = self._runtime.run_blocking if self._blocking else _call
            detail = run(self._probe)
            self._result = (detail or OK, None)
        except BaseException as exc:  # reported, never raised: this is a green thread's top
            self._result = (None, exc)
        finally:
            self._in_flight = False
            done.set()

    def outcome(self, timeout: float) -> str:
        if not self._done.wait(timeout):
            return f"error: timed out after {CHECK_TIMEOUT_SECONDS:g} s"
        detail, exc = self._result
        if exc is not None:
            return f"error: {_describe(exc)}"
        return detail or OK


def _call(fn: Callable[[], str]) -> str:
    return fn()


def _describe(exc: BaseException) -> str:
    """The driver's own first line (e.g. "connection refused"), without SQL or URLs."""
    root: BaseException = exc
    while isinstance(wrapped := getattr(root, "orig", None), BaseException):
        root = wrapped  # SQLAlchemy's DBAPIError wraps the driver's
    text = str(root).strip().splitlines()[0] if str(root).strip() else type(root).__name__
    return text[:200]


class Readiness:
    def __init__(self, runtime: Any, checks: list[Check]):
        self._runtime = runtime
        self.checks = checks

    def run(self) -> tuple[bool, dict[str, str]]:
        for check in self.checks:
            check.start()
        deadline = self._runtime.now() + CHECK_TIMEOUT_SECONDS
        results = {}
        for check in self.checks:
            results[check.name] = check.outcome(max(0.0, deadline - self._runtime.now()))
        return all(detail.startswith(OK) for detail in results.values()), results


# ---- the checks ------------------------------------------------------------------------------


class DatabaseProbe:
    """SELECT 1 on a connection of its own: the history's connections may all be busy (or
    stuck on a dead server), and a probe must neither wait for them nor take one."""

    def __init__(self, database: Any):
        self._database = database
        self._conn: Any = None  # a SQLAlchemy Connection of its own, once opened

    def __call__(self) -> str:
        if self._database.closed:
            raise RuntimeError("closed: the server is shutting down")
        try:
            if self._conn is None:
                self._conn = self._database.engine.connect()
            self._conn.exec_driver_sql("SELECT 1").scalar()
            self._conn.rollback()
        except BaseException:
            self._drop()
            raise
        return OK

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:
                log.debug("closing the readiness connection failed", exc_info=True)


class RedisProbe:
    """PING on a client of its own, without the app pool's retries (they last ~1.5 s)."""

    def __init__(self, url: str):
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=CHECK_TIMEOUT_SECONDS,
            socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
            single_connection_client=True,
        )

    def __call__(self) -> str:
        try:
            self._client.ping()
        except BaseException:
            if self._client.connection is not None:  # the next probe starts on a new connection
                self._client.connection.disconnect()
            raise
        return OK


def message_queue_probe(manager: Any) -> Callable[[], str]:
    """The Socket.IO message queue: this node's subscriber holds its channel. python-socketio's
    Redis manager replaces `pubsub` with an unsubscribed one when its connection fails, and
    subscribes it again once Redis answers."""

    def probe() -> str:
        pubsub = getattr(manager, "pubsub", None)
        if pubsub is None:
            raise RuntimeError("not subscribed yet")
        if not pubsub.subscribed or pubsub.connection is None:
            raise RuntimeError("not subscribed (the message queue lost Redis)")
        return OK

    return probe


def page_probe(files: list[Path]) -> Callable[[], str]:
    def probe() -> str:
        missing = missing_files(files)
        if missing:
            raise RuntimeError(f"missing {', '.join(missing)}: {PAGE_FIX}")
        return OK

    return probe


PAGE_FIX = (
    "deploy the whole repository: static/vendor/ holds the page's Socket.IO client"
    " (`make vendor` copies it from node_modules)"
)


def missing_files(files: list[Path]) -> list[str]:
    return [str(path) for path in files if not path.is_file()]


def build_readiness(
    settings: Any, services: Any, manager: Any, page_files: list[Path]
) -> Readiness:
    runtime = services.runtime
    checks = []
    database = services.storage.database
    if database is not None:
        checks.append(Check("database", DatabaseProbe(database), runtime, blocking=True))
    else:
        checks.append(Check("database", lambda: "ok (memory://)", runtime, blocking=False))
    if settings.redis_url:
        checks.append(Check("redis", RedisProbe(settings.redis_url), runtime, blocking=False))
        checks.append(Check("message_queue", message_queue_probe(manager), runtime, blocking=False))
    checks.append(Check("page", page_probe(page_files), runtime, blocking=False))
    return Readiness(runtime, checks)
