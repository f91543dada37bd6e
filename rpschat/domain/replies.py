"""How a stored message goes on the wire with what others added to it: the quote of the message
it replies to (issue 25, point 3) and its reactions (point 4).

Replies: a message may answer an earlier one (`reply_to`, its id); the wire shows the quoted
message as it is when read (its author and the start of its current text), or that it was
deleted. Reactions: each emoji of the fixed set, how many reacted with it and who. Both are
looked up for a whole page at once (`get_many`, `reactions_of`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

QUOTE_CHARS = 140  # of the quoted text, in code points; "…" marks a cut
# The reactions one can add: a dozen, as the issue asks; their order is the order shown.
EMOJI = ("👍", "👎", "❤️", "😂", "🎉", "😮", "😢", "😡", "🔥", "👀", "🙏", "✅")
MAX_NAMES_SHOWN = 50  # names listed per emoji (the count is exact)


@dataclass(frozen=True)
class Reaction:
    """One emoji on one message: who reacted with it, oldest first."""

    emoji: str
    names: list[str] = field(default_factory=list)
    count: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {"emoji": self.emoji, "count": self.count, "names": self.names[:MAX_NAMES_SHOWN]}


def reactions_wire(reactions: list[Reaction]) -> list[dict[str, Any]]:
    return [r.to_wire() for r in sorted(reactions, key=lambda r: EMOJI.index(r.emoji))]


class Quotable(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def reply_to(self) -> int | None: ...

    def to_wire(self) -> dict[str, Any]: ...
    def quote(self) -> dict[str, Any]: ...


Q = TypeVar("Q", bound=Quotable)
Q_co = TypeVar("Q_co", bound=Quotable, covariant=True)


class Annotations(Protocol[Q_co]):
    """What a store tells about its messages beyond their rows (HistoryStore, DmStore)."""

    def get_many(self, message_ids: list[int]) -> Mapping[int, Q_co]: ...
    def reactions_of(self, message_ids: list[int]) -> Mapping[int, list[Reaction]]: ...


def excerpt(text: str) -> str:
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


def quoted(reply_to: int, parent: Quotable | None) -> dict[str, Any]:
    """The wire's `reply_to`: the quote, or `{id, deleted: true}` once the message is gone."""
    return parent.quote() if parent is not None else {"id": reply_to, "deleted": True}


def with_quotes(messages: Iterable[Q], store: Annotations[Q], **extra: Any) -> list[dict[str, Any]]:
    """The messages' wire forms (with `extra`): each reply's `reply_to` a quote, and the
    `reactions` of those that have some."""
    messages = list(messages)
    wanted = sorted({m.reply_to for m in messages if m.reply_to is not None})
    parents = store.get_many(wanted) if wanted else {}
    reactions = store.reactions_of([m.id for m in messages]) if messages else {}
    wires = []
    for message in messages:
        wire = {**message.to_wire(), **extra}
        if message.reply_to is not None:
            wire["reply_to"] = quoted(message.reply_to, parents.get(message.reply_to))
        if reactions.get(message.id):
            wire["reactions"] = reactions_wire(reactions[message.id])
        wires.append(wire)
    return wires
