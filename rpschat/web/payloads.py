"""Reading a client's payload: the web layer checks each event's shape and field types here and
hands the domain typed arguments (docs/protocol.md gives the shapes and the refusal texts)."""

from __future__ import annotations

from typing import Any

from rpschat.domain.errors import Code, Refused
from rpschat.domain.ports import MAX_ID


def as_object(payload: Any, example: str) -> dict:
    """The payload as a dict, or a refusal that shows the expected shape."""
    if not isinstance(payload, dict):
        raise Refused(Code.BAD_REQUEST, f"Send an object like {example}.")
    return payload


def optional_whole_number(
    obj: dict, key: str, reason: str, minimum: int = 0, maximum: int = MAX_ID
) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise Refused(Code.BAD_REQUEST, reason, field=key)
    return value


def required_string(obj: dict, key: str, reason: str, max_chars: int = 200) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value or len(value) > max_chars:
        raise Refused(Code.BAD_REQUEST, reason, field=key)
    return value


def required_whole_number(
    obj: dict, key: str, reason: str, minimum: int = 0, maximum: int = MAX_ID
) -> int:
    value = optional_whole_number(obj, key, reason, minimum, maximum)
    if value is None:
        raise Refused(Code.BAD_REQUEST, reason, field=key)
    return value


def string(obj: dict, key: str, reason: str) -> str:
    """A field that must be a string: what it may hold is the domain's to check."""
    value = obj.get(key)
    if not isinstance(value, str):
        raise Refused(Code.BAD_REQUEST, reason, field=key)
    return value


def optional_string(obj: dict, key: str, reason: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise Refused(Code.BAD_REQUEST, reason, field=key)
    return value


def secret(obj: dict, key: str) -> str | None:
    """A password or token as the domain takes it. One that is not a string matches nothing:
    it is read as the empty string (so its refusal is a wrong password's, or an unknown
    token's), not as None (a missing one, refused apart)."""
    value = obj.get(key)
    return value if value is None or isinstance(value, str) else ""
