"""Invites (game/invites.py's InviteStore) in this process."""

from __future__ import annotations

import threading
import time

from rpschat.domain.game.invites import Invite


class MemoryInvites:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._invites: dict[str, Invite] = {}
        self._ended: dict[str, tuple[str, float]] = {}  # code -> (why, until: monotonic)

    def add(self, invite: Invite) -> None:
        with self._lock:
            self._invites[invite.code] = invite

    def get(self, code: str) -> Invite | None:
        with self._lock:
            return self._invites.get(code)

    def take(self, code: str) -> Invite | None:
        with self._lock:
            return self._invites.pop(code, None)

    def all(self) -> list[Invite]:
        with self._lock:
            return list(self._invites.values())

    def end(self, code: str, reason: str, keep_seconds: float) -> None:
        now = time.monotonic()
        with self._lock:
            for old in [c for c, (_, until) in self._ended.items() if until <= now]:
                del self._ended[old]
            self._ended[code] = (reason, now + keep_seconds)

    def ended(self, code: str) -> str | None:
        with self._lock:
            found = self._ended.get(code)
        return found[0] if found and found[1] > time.monotonic() else None
