"""The presence hub: users dropping, coming back and leaving, told to whoever listens.

Connections (domain/connections.py) and the naming services publish; the lobby and the game
listen. The composition root makes the hub first and subscribes the listeners once they are
built, so that no service needs another that is built after it.
"""

from __future__ import annotations

from rpschat.domain.ports import PresenceListener


class PresenceHub:
    """Tells every listener, in the order they subscribed."""

    def __init__(self) -> None:
        self._listeners: list[PresenceListener] = []

    def subscribe(self, listener: PresenceListener) -> None:
        self._listeners.append(listener)

    def user_dropped(self, user_id: str, name: str) -> None:
        for listener in self._listeners:
            listener.user_dropped(user_id, name)

    def user_back(self, user_id: str, name: str, sid: str, last_id: int | None) -> None:
        for listener in self._listeners:
            listener.user_back(user_id, name, sid, last_id)

    def user_gone(self, user_id: str, name: str, removed: bool) -> None:
        for listener in self._listeners:
            listener.user_gone(user_id, name, removed)
