"""Replies (issue 25, point 3): a message may answer an earlier one (`reply_to`, its id). The
wire shows the quoted message as it is when read: its author and the start of its current text,
or that it was deleted. Quotes are looked up for a whole page at once (`get_many`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

QUOTE_CHARS = 140  # of the quoted text, in code points; "…" marks a cut


class Quotable(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def reply_to(self) -> int | None: ...

    def to_wire(self) -> dict[str, Any]: ...
    def quote(self) -> dict[str, Any]: ...


Q = TypeVar("Q", bound=Quotable)


def excerpt(text: str) -> str:
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


def quoted(reply_to: int, parent: Quotable | None) -> dict[str, Any]:
    """The wire's `reply_to`: the quote, or `{id, deleted: true}` once the message is gone."""
    return parent.quote() if parent is not None else {"id": reply_to, "deleted": True}


def with_quotes(
    messages: Iterable[Q],
    get_many: Callable[[list[int]], Mapping[int, Q]],
    **extra: Any,
) -> list[dict[str, Any]]:
    """The messages' wire forms (with `extra`), each reply's `reply_to` a quote."""
    messages = list(messages)
    wanted = sorted({m.reply_to for m in messages if m.reply_to is not None})
    parents = get_many(wanted) if wanted else {}
    wires = []
    for message in messages:
        wire = {**message.to_wire(), **extra}
        if message.reply_to is not None:
            wire["reply_to"] = quoted(message.reply_to, parents.get(message.reply_to))
        wires.append(wire)
    return wires
