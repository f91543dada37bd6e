"""How app.py wires health, metrics and logs in: the few calls it makes, in one place."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from rpschat.ops import logs
from rpschat.ops.cli import add_commands
from rpschat.ops.metrics import Metrics
from rpschat.ops.routes import install

__all__ = ["Metrics", "add_commands", "configure_logging", "install", "startup_line", "version"]


def configure_logging(settings: Any) -> None:
    logs.configure(settings.log_level, settings.log_format)


def version() -> str:
    try:
        return metadata.version("rpschat")
    except metadata.PackageNotFoundError:  # run from a checkout (the usual way): pyproject's
        return _pyproject_version()


def _pyproject_version() -> str:
    import tomllib
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        return tomllib.loads(path.read_text())["project"]["version"]
    except (OSError, KeyError, ValueError):
        return "unknown"


def startup_line(settings: Any, mode: str) -> str:
    return logs.startup_line(settings, version(), mode)
