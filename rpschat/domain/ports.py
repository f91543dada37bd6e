"""What the domain needs from the outside world, as small interfaces."""

from __future__ import annotations

from typing import Any, Protocol

LOBBY = "lobby"


def user_room(user_id: str) -> str:
    """Every connection of a user is in this room: emits reach the user across reconnects."""
    return f"user:{user_id}"


class Outbox(Protocol):
    """Sends events to connections and rooms; the web layer implements it with Socket.IO."""

    def emit(self, event: str, data: Any, *, to: str | None = None, skip_sid: str | None = None):
        """`to` is a connection id or a room; None means everyone."""

    def join(self, sid: str, room: str) -> None: ...
    def leave(self, sid: str, room: str) -> None: ...
    def disconnect(self, sid: str) -> None: ...


class PresenceListener(Protocol):
    """Told when users drop, come back or leave for good (the game reacts to these)."""

    def is_busy(self, user_id: str) -> bool: ...
    def user_dropped(self, user_id: str, name: str) -> None: ...
    def user_back(self, user_id: str, name: str, sid: str) -> None: ...
    def user_gone(self, user_id: str, name: str) -> None: ...
