"""What tests compare refusals with: `ack == refused("No such game.", Code.NO_SUCH_GAME)`.

A refusal on the wire is `{ok: false, code, error, ...details}` (an `error` event has `event`
instead of `ok`). `refused(reason, code, **details)` equals such an answer when its sentence is
`reason`, its code is registered (and is `code`, if given), it carries no key but the details
its code declares, and the `details` given have those values."""

from __future__ import annotations

from typing import Any

from rpschat.domain.errors import Code

_ANSWER_KEYS = {"ok", "code", "error"}
_EVENT_KEYS = {"event", "code", "error"}


class Refusal:
    def __init__(self, reason: str, code: Code | None, event: str | None, details: dict):
        self.reason = reason
        self.code = code
        self.event = event
        self.details = details

    def __eq__(self, answer: object) -> bool:
        if not isinstance(answer, dict) or answer.get("error") != self.reason:
            return False
        code = answer.get("code")
        if code not in Code.__members__.values() or (self.code and code != self.code):
            return False
        if self.event is None:
            if answer.get("ok") is not False:
                return False
            fixed = _ANSWER_KEYS
        else:
            if answer.get("event") != self.event or "ok" in answer:
                return False
            fixed = _EVENT_KEYS
        if not answer.keys() - fixed <= set(Code(code).details):
            return False
        return all(answer.get(key) == value for key, value in self.details.items())

    def __hash__(self) -> int:
        return hash((self.reason, self.code, self.event))

    def __repr__(self) -> str:
        details = "".join(f", {key}={value!r}" for key, value in self.details.items())
        code = f", {self.code.name}" if self.code else ""
        event = f", event={self.event!r}" if self.event else ""
        return f"refused({self.reason!r}{code}{event}{details})"


def refused(reason: str, code: Code | None = None, **details: Any) -> Refusal:
    """An ack `{ok: false, code, error: reason, ...details}`."""
    return Refusal(reason, code, None, details)


def error_event(event: str, reason: str, code: Code | None = None, **details: Any) -> Refusal:
    """An `error` event `{event, code, error: reason, ...details}`."""
    return Refusal(reason, code, event, details)
