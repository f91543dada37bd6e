"""The Redis client every shared store uses: retries, the refusal when Redis stays away, and
key names under one prefix."""

from __future__ import annotations

import functools
import logging
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from rpschat.domain.errors import RETRY_SOON_SECONDS, Code, Refused

log = logging.getLogger("rpschat.cluster")

UNAVAILABLE = "The server can't reach its shared state right now: try again in a moment."
LOST = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class SharedStateUnavailable(Refused):
    def __init__(self, code: Code = Code.UNAVAILABLE, reason: str = UNAVAILABLE):
        super().__init__(code, reason, retry_after=RETRY_SOON_SECONDS)


def _shared(method: Callable) -> Callable:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except LOST as exc:
            log.warning("redis unavailable in %s: %s", method.__qualname__, exc)
            raise SharedStateUnavailable() from exc

    return call


def shared_state(cls: type) -> type:
    """Every public (or container dunder) method turns a lost Redis, after its retries, into a
    clear refusal."""
    for attr, value in list(vars(cls).items()):
        dunder = attr.startswith("__") and attr != "__init__"
        if callable(value) and (dunder or not attr.startswith("_")):
            setattr(cls, attr, _shared(value))
    return cls


POOL_WAIT_SECONDS = 30  # a burst (a join storm) waits for a connection rather than failing


# The client decodes replies (decode_responses=True), which redis-py types as bytes | str:
# these say what they are.
def text(reply: object) -> str | None:
    return cast("str | None", reply)


def texts(reply: object) -> list[str]:
    return cast("list[str]", reply)


def text_set(reply: object) -> set[str]:
    return cast("set[str]", reply)


def connect(url: str, max_connections: int = 400) -> redis.Redis:
    """A client whose commands retry with backoff (~1.5 s in all) across a Redis restart."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=POOL_WAIT_SECONDS,
        decode_responses=True,
        socket_timeout=10,  # a starved event loop reads late replies: not a reason to fail
        socket_connect_timeout=2,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=6),
        retry_on_error=list(LOST),
    )
    return redis.Redis(connection_pool=pool)


def new_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Keys:
    """Every key under one prefix, so deployments (and test runs) share a Redis safely."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def __call__(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    def node_users(self, node: str) -> str:
        return self("node", node, "users")


# KEYS: a hash. ARGV: a field. Its value (removed), or nil.
HASH_POP = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value then redis.call('HDEL', KEYS[1], ARGV[1]) end
return value
"""
