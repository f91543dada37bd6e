"""The domain's ModerationStore (domain/ports.py) in this process (`DATABASE_URL=memory://`)."""

from __future__ import annotations

import threading
from typing import Any

from rpschat.domain.ports import Sanction


def _matches(sanction: Sanction, where: dict[str, str]) -> bool:
    return all(getattr(sanction, field) == value for field, value in where.items())


class MemoryModeration:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sanctions: list[Sanction] = []
        self._log: list[dict[str, Any]] = []
        self._reports: list[dict[str, Any]] = []
        self._ignores: set[tuple[str, str]] = set()
        self._settings: dict[str, str] = {}

    def setting(self, key: str) -> str | None:
        with self._lock:
            return self._settings.get(key)

    def set_setting(self, key: str, value: str) -> None:
        with self._lock:
            self._settings[key] = value

    def add(self, sanction: Sanction) -> None:
        with self._lock:
            self._sanctions.append(sanction)

    def remove(self, kind: str, user_id: str | None, name_key: str | None = None) -> bool:
        def lifted(s: Sanction) -> bool:
            return s.kind == kind and (
                (user_id is not None and s.user_id == user_id)
                or (name_key is not None and s.name_key == name_key)
            )

        with self._lock:
            kept = [s for s in self._sanctions if not lifted(s)]
            removed = len(kept) != len(self._sanctions)
            self._sanctions = kept
            return removed

    def active(
        self,
        kind: str,
        now_ms: int,
        user_id: str | None = None,
        name_key: str | None = None,
        address: str | None = None,
    ) -> Sanction | None:
        given = {"user_id": user_id, "name_key": name_key, "address": address}
        where = {k: v for k, v in given.items() if v is not None}
        if not where:
            return None
        with self._lock:
            self._sanctions = [s for s in self._sanctions if s.until_ms > now_ms]
            found = [s for s in self._sanctions if s.kind == kind and _matches(s, where)]
        return max(found, key=lambda s: s.until_ms, default=None)

    def audit(self, moderator, action, target, reason, until_ms, ts) -> None:
        with self._lock:
            self._log.append({"id": len(self._log) + 1, "ts": ts, "moderator": moderator,
                              "action": action, "target": target, "reason": reason,
                              "until": until_ms})  # fmt: skip

    def log(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in reversed(self._log[-limit:])]

    def report(
        self, user_id: str, name: str, message_id: int, reason: str, ts: int
    ) -> tuple[int, int] | None:
        with self._lock:
            of_message = [r for r in self._reports if r["message_id"] == message_id]
            if any(r["user_id"] == user_id for r in of_message):
                return None
            self._reports.append({"user_id": user_id, "name": name, "message_id": message_id,
                                  "reason": reason, "ts": ts})  # fmt: skip
            return len(self._reports), len(of_message) + 1

    def open_reports(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            found = [r for r in reversed(self._reports) if not r.get("resolved_at")]
        keys = ("message_id", "name", "reason", "ts")
        return [{k: r[k] for k in keys} for r in found[:limit]]

    def resolve_reports(self, message_id: int, ts: int) -> int:
        with self._lock:
            found = [r for r in self._reports
                     if r["message_id"] == message_id and not r.get("resolved_at")]  # fmt: skip
            for r in found:
                r["resolved_at"] = ts
            return len(found)

    def ignore(self, user_id: str, other_id: str) -> None:
        with self._lock:
            self._ignores.add((user_id, other_id))

    def unignore(self, user_id: str, other_id: str) -> None:
        with self._lock:
            self._ignores.discard((user_id, other_id))

    def ignores(self, user_id: str, other_id: str) -> bool:
        return (user_id, other_id) in self._ignores
