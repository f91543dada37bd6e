"""Settings, read once from the environment. Every variable is documented in README.md."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from rpschat.domain.ratelimit import RateSpec

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A setting the server cannot start with; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}.")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}.") from None
    if value < 0:
        raise ConfigError(f"{name} can't be negative.")
    return value


def _rate(env: Mapping[str, str], name: str, default: str) -> RateSpec | None:
    raw = env.get(name, "").strip() or default
    try:
        return RateSpec.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}.")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {raw!r}.")
    return raw


def _hops(env: Mapping[str, str], name: str) -> int:
    """How many proxies to trust: a number, or true (one) / false (none)."""
    raw = env.get(name, "").strip().lower()
    if raw.isdigit():
        return int(raw)
    try:
        return int(_bool(env, name, False))
    except ConfigError:
        raise ConfigError(
            f"{name} must be the number of trusted proxies (0, 1, 2...), true or false, "
            f"not {raw!r}."
        ) from None


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 4321
    secret_key: str = field(default="", repr=False)
    database_url: str = "sqlite:///instance/chat.db"
    redis_url: str = ""
    redis_prefix: str = "rpschat"
    node_ttl_seconds: float = 10.0
    allowed_origins: tuple[str, ...] = ()
    chat_rate: RateSpec | None = RateSpec(20, 10.0)
    other_rate: RateSpec | None = RateSpec(60, 10.0)
    join_rate: RateSpec | None = RateSpec(30, 60.0)
    login_rate: RateSpec | None = RateSpec(5, 60.0)
    login_rate_per_ip: RateSpec | None = RateSpec(20, 60.0)
    login_rate_per_name: RateSpec | None = RateSpec(60, 600.0)  # from devices it doesn't know
    report_rate: RateSpec | None = RateSpec(5, 60.0)  # reports per user
    report_rate_per_ip: RateSpec | None = RateSpec(20, 60.0)  # reports per client address
    rated_games_per_pair: int = 5  # rated games a pair of claimed users play a UTC day (0: any)
    dm_unread_on_login: int = 50  # unread DMs sent at a log-in (the rest: dm_unread)
    dm_unread_max: int = 500  # unread DMs stored for one user (0: no cap)
    dm_unread_per_sender: int = 50  # ... from one sender to one user (0: no cap)
    password_hash_kib: int = 65536  # Argon2id's memory per hash
    password_hash_concurrency: int = 2  # hashes at once (each takes password_hash_kib)
    password_hash_queue: int = 8  # password work waiting for a turn; more is refused
    owners: tuple[str, ...] = ()  # names seeded as owners at start-up (OWNERS, domain/roles.py)
    moderators: tuple[str, ...] = ()  # names seeded as moderators at start-up (domain/roles.py)
    max_message_chars: int = 2000
    max_frame_bytes: int = 512 * 1024
    max_backlog_bytes: int = 1024 * 1024
    max_connections: int = 100_000
    max_connections_per_ip: int = 50
    trust_proxy: int = 0  # trusted proxy hops in front of the server (X-Forwarded-*)
    unnamed_idle_seconds: float = 120.0
    connect_timeout_seconds: float = 10.0  # Engine.IO handshake -> Socket.IO CONNECT
    request_header_seconds: float = 10.0  # a TCP connection's first byte -> its headers' end
    resume_grace_seconds: float = 10.0
    token_ttl_seconds: int = 86_400
    history_on_join: int = 50
    edit_window_seconds: int = 900
    round_seconds: float = 15.0
    challenge_seconds: float = 30.0
    invite_ttl_seconds: float = 600.0
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    websocket_compression: bool = False
    transport_patches: str = "all"  # benchmarking: which of the transport's patches to apply
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one object per line, for a log drain
    metrics: bool = True
    metrics_token: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        chat_rate = _rate(env, "RATE_LIMIT", "20/10")
        other_default = "60/10" if chat_rate else "0"
        return cls(
            host=env.get("HOST", "").strip() or "127.0.0.1",
            port=_int(env, "PORT", 4321, minimum=0),
            secret_key=_secret_key(env),
            database_url=env.get("DATABASE_URL", "").strip() or cls.database_url,
            redis_url=env.get("REDIS_URL", "").strip(),
            redis_prefix=env.get("REDIS_PREFIX", "").strip() or "rpschat",
            node_ttl_seconds=_float(env, "NODE_TTL_SECONDS", 10.0),
            allowed_origins=tuple(
                o.strip().rstrip("/")
                for o in env.get("ALLOWED_ORIGINS", "").split(",")
                if o.strip()
            ),
            chat_rate=chat_rate,
            other_rate=_rate(env, "RATE_LIMIT_OTHER", other_default),
            join_rate=_rate(env, "JOIN_RATE", "30/60" if chat_rate else "0"),
            login_rate=_rate(env, "LOGIN_RATE", "5/60" if chat_rate else "0"),
            login_rate_per_ip=_rate(env, "LOGIN_RATE_PER_IP", "20/60" if chat_rate else "0"),
            login_rate_per_name=_rate(env, "LOGIN_RATE_PER_NAME", "60/600" if chat_rate else "0"),
            report_rate=_rate(env, "REPORT_RATE", "5/60" if chat_rate else "0"),
            report_rate_per_ip=_rate(env, "REPORT_RATE_PER_IP", "20/60" if chat_rate else "0"),
            rated_games_per_pair=_int(env, "RATED_GAMES_PER_PAIR", 5),
            dm_unread_on_login=_int(env, "DM_UNREAD_ON_LOGIN", 50, minimum=1),
            dm_unread_max=_int(env, "DM_UNREAD_MAX", 500),
            dm_unread_per_sender=_int(env, "DM_UNREAD_PER_SENDER", 50),
            password_hash_kib=_int(env, "PASSWORD_HASH_KIB", 65536, minimum=64),
            password_hash_concurrency=_int(env, "PASSWORD_HASH_CONCURRENCY", 2, minimum=1),
            password_hash_queue=_int(env, "PASSWORD_HASH_QUEUE", 8),
            moderators=tuple(n.strip() for n in env.get("MODERATORS", "").split(",") if n.strip()),
            owners=tuple(n.strip() for n in env.get("OWNERS", "").split(",") if n.strip()),
            max_message_chars=_int(env, "MAX_MESSAGE_CHARS", 2000, minimum=1),
            max_frame_bytes=_int(env, "MAX_FRAME_BYTES", 512 * 1024, minimum=1024),
            max_backlog_bytes=_int(env, "MAX_BACKLOG_BYTES", 1024 * 1024, minimum=64 * 1024),
            max_connections=_int(env, "MAX_CONNECTIONS", 100_000, minimum=1),
            max_connections_per_ip=_int(env, "MAX_CONNECTIONS_PER_IP", 50),
            trust_proxy=_hops(env, "TRUST_PROXY"),
            unnamed_idle_seconds=_float(env, "UNNAMED_IDLE_SECONDS", 120.0),
            connect_timeout_seconds=_float(env, "CONNECT_TIMEOUT_SECONDS", 10.0),
            request_header_seconds=_float(env, "REQUEST_HEADER_SECONDS", 10.0),
            resume_grace_seconds=_float(env, "RESUME_GRACE_SECONDS", 10.0),
            token_ttl_seconds=_int(env, "TOKEN_TTL_SECONDS", 86_400, minimum=1),
            history_on_join=_int(env, "HISTORY_ON_JOIN", 50),
            edit_window_seconds=_int(env, "EDIT_WINDOW_SECONDS", 900),
            round_seconds=_float(env, "ROUND_SECONDS", 15.0),
            challenge_seconds=_float(env, "CHALLENGE_SECONDS", 30.0),
            invite_ttl_seconds=_float(env, "INVITE_TTL_SECONDS", 600.0),
            ping_interval=_float(env, "PING_INTERVAL", 25.0),
            ping_timeout=_float(env, "PING_TIMEOUT", 20.0),
            websocket_compression=_bool(env, "WEBSOCKET_COMPRESSION", False),
            transport_patches=env.get("TRANSPORT_PATCHES", "").strip() or "all",
            log_level=env.get("LOG_LEVEL", "").strip().upper() or "INFO",
            log_format=_choice(env, "LOG_FORMAT", ("text", "json")),
            metrics=_bool(env, "METRICS", True),
            metrics_token=env.get("METRICS_TOKEN", "").strip(),
        )

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)


def _secret_key(env: Mapping[str, str]) -> str:
    key = env.get("SECRET_KEY", "").strip()
    if key:
        return key
    log.warning("SECRET_KEY is not set: using a random key (sessions won't survive a restart).")
    return secrets.token_hex(32)
