"""Log format (LOG_FORMAT=text|json) and the one start-up line an operator reads first.

JSON lines carry fixed fields: time, level, logger, event (the message), and, when the call
site gives them as `extra={"sid": ..., "user_id": ..., "address": ...}` (plain keys: the domain
logs them without importing this module), sid, user (a hash of the user id: enough to follow one
user through a log, not to recognise them) and address. Message bodies and tokens are never
passed to a logger, so they never reach a log line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"
_handler: logging.Handler | None = None  # the one `configure` added (replaced by the next)


def user_hash(user_id: str) -> str:
    return hashlib.sha256(str(user_id).encode()).hexdigest()[:12]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        extra = record.__dict__
        if extra.get("sid") is not None:
            entry["sid"] = extra["sid"]
        if extra.get("user_id") is not None:
            entry["user"] = user_hash(extra["user_id"])
        if extra.get("address") is not None:
            entry["address"] = extra["address"]
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["stack"] = record.stack_info
        # ensure_ascii: a line stays one line whatever a name holds (json escapes newlines too)
        return json.dumps(entry, ensure_ascii=True, default=str)


def _iso_time(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def configure(level: str, log_format: str) -> None:
    """One handler of ours on the root logger, on stderr; others' handlers (pytest's) stay."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
        logging.captureWarnings(True)  # warnings would otherwise print multi-line text
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    global _handler
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler


def redact_url(url: str) -> str:
    """A database or Redis URL with its password replaced by ***."""
    if not url or "://" not in url:
        return url
    try:
        parsed = make_url(url)
    except Exception:  # not a URL SQLAlchemy reads (rediss+sentinel...): cut the userinfo
        scheme, rest = url.split("://", 1)
        netloc, sep, path = rest.partition("/")
        if "@" in netloc:
            netloc = "***@" + netloc.rsplit("@", 1)[1]
        return f"{scheme}://{netloc}{sep}{path}"
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def version() -> str:
    """This checkout's version: the installed package's, else pyproject.toml's."""
    try:
        return metadata.version("rpschat")
    except metadata.PackageNotFoundError:  # run from a checkout (the usual way): pyproject's
        return _pyproject_version()


def _pyproject_version() -> str:
    import tomllib

    path = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        return tomllib.loads(path.read_text())["project"]["version"]
    except (OSError, KeyError, ValueError):
        return "unknown"


def startup_line(settings: Any, version: str, mode: str) -> str:
    """Everything an operator checks first, on one line; no secret in it."""
    parts = [
        f"rpschat {version} starting",
        f"mode={mode}",
        f"listen={settings.host}:{settings.port}",
        f"database={redact_url(settings.database_url)}",
        f"redis={redact_url(settings.redis_url) or 'off'}",
    ]
    if settings.redis_url:
        parts.append(f"redis_prefix={settings.redis_prefix}")
    parts += [
        f"trust_proxy={settings.trust_proxy}",  # trusted proxy hops
        f"allowed_origins={','.join(settings.allowed_origins) or 'same-origin'}",
        f"max_connections={settings.max_connections}",
        f"max_connections_per_ip={settings.max_connections_per_ip}",
        f"rate_limit={_rate(settings.chat_rate)}",
        f"websocket_compression={str(settings.websocket_compression).lower()}",
        f"metrics={_metrics(settings)}",
        f"log={settings.log_level.lower()}/{settings.log_format}",
    ]
    return " ".join(parts)


def _rate(spec: Any) -> str:
    return "off" if spec is None else f"{spec.capacity}/{spec.per_seconds:g}"


def _metrics(settings: Any) -> str:
    if not settings.metrics:
        return "off"
    return "token" if settings.metrics_token else "loopback-only"
