"""What answers carry, and how big they may get.

No answer is larger than a client can receive (docs/protocol.md, "Answer sizes"): lists are cut
to `max_answer_bytes` (a quarter of MAX_BACKLOG_BYTES), and a replay stops at `MAX_REPLAY`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar

MAX_REPLAY = 1000  # messages one replay sends at most

T = TypeVar("T")


@dataclass(frozen=True)
class Stored:
    """A chat or direct message once committed (or the first one with its client id)."""

    id: int
    ts: int
    duplicate: bool = False


@dataclass(frozen=True)
class MessagePage:
    """Messages as sent on the wire, oldest first, and whether older (or newer) ones remain."""

    messages: list[dict[str, Any]]
    has_more: bool


def wire_bytes(value: Any) -> int:
    """The size of `value` in a frame, as python-socketio encodes it (compact JSON, non-ASCII
    escaped: an emoji is 12 bytes)."""
    return len(json.dumps(value, separators=(",", ":")))


def fit_answer(items: list[T], keep_newest: bool, budget: int | None) -> tuple[list[T], bool]:
    """The items (oldest first) that fit in `budget` bytes (None: no limit): the newest or the
    oldest ones, at least one; and whether some were cut."""
    if budget is None:
        return items, False
    total = kept = 0
    for item in reversed(items) if keep_newest else items:
        total += wire_bytes(item) + 1
        if kept and total > budget:
            break
        kept += 1
    if kept == len(items):
        return items, False
    return (items[len(items) - kept :] if keep_newest else items[:kept]), True
