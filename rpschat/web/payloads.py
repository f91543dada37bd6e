"""Reading a client's payload: the web layer checks each event's shape and field types here and
hands the domain typed arguments (docs/protocol.md gives the shapes and the refusal texts)."""

from __future__ import annotations

from typing import Any

from rpschat.domain.errors import Refused
from rpschat.domain.ports import MAX_ID


def as_object(payload: Any, example: str) -> dict:
    """The payload as a dict, or a refusal that shows the expected shape."""
    if not isinstance(payload, dict):
        raise Refused(f"Send an object like {example}.")
    return payload


def optional_whole_number(
    obj: dict, key: str, reason: str, minimum: int = 0, maximum: int = MAX_ID
) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise Refused(reason)
    return value


def required_string(obj: dict, key: str, reason: str, max_chars: int = 200) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value or len(value) > max_chars:
        raise Refused(reason)
    return value
