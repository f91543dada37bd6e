"""The domain's ModerationStore (domain/ports.py): in the SQL database, which every node shares
and which outlives restarts; in memory for `DATABASE_URL=memory://`."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update

from rpschat.domain.ports import Sanction
from rpschat.storage.database import Database, ignores, mod_actions, reports, sanctions


def _matches(sanction: Sanction, where: dict[str, str | None]) -> bool:
    return all(getattr(sanction, field) == value for field, value in where.items())


class MemoryModeration:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sanctions: list[Sanction] = []
        self._log: list[dict[str, Any]] = []
        self._reports: list[dict[str, Any]] = []
        self._ignores: set[tuple[str, str]] = set()

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

    def active(self, kind: str, now_ms: int, **where: str | None) -> Sanction | None:
        where = {k: v for k, v in where.items() if v is not None}
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

    def report(self, user_id, name, message_id, reason, ts) -> tuple[int, int] | None:
        with self._lock:
            of_message = [r for r in self._reports if r["message_id"] == message_id]
            if any(r["user_id"] == user_id for r in of_message):
                return None
            self._reports.append({"user_id": user_id, "name": name, "message_id": message_id,
                                  "reason": reason, "ts": ts})  # fmt: skip
            return len(self._reports), len(of_message) + 1

    def ignore(self, user_id: str, other_id: str) -> None:
        with self._lock:
            self._ignores.add((user_id, other_id))

    def unignore(self, user_id: str, other_id: str) -> None:
        with self._lock:
            self._ignores.discard((user_id, other_id))

    def ignores(self, user_id: str, other_id: str) -> bool:
        return (user_id, other_id) in self._ignores


class SqlModeration:
    def __init__(self, database: Database):
        self._db = database

    def add(self, sanction: Sanction) -> None:
        row = {f: getattr(sanction, f) for f in
               ("kind", "user_id", "name_key", "address", "until_ms", "reason")}  # fmt: skip
        self._db.write(lambda conn: conn.execute(insert(sanctions).values(row)))

    def remove(self, kind: str, user_id: str | None, name_key: str | None = None) -> bool:
        def lift(conn: Any) -> bool:
            now = int(self._db.runtime.now() * 1000)
            c = sanctions.c
            whose = or_(
                and_(c.user_id.is_not(None), c.user_id == user_id),
                and_(c.name_key.is_not(None), c.name_key == name_key),
            )
            statement = (
                update(sanctions)
                .where(c.kind == kind, whose, c.until_ms > now)
                .values(until_ms=now)
                .returning(c.id)
            )
            return bool(conn.execute(statement).all())

        return self._db.write(lift)

    def active(self, kind: str, now_ms: int, **where: str | None) -> Sanction | None:
        where = {k: v for k, v in where.items() if v is not None}
        if not where:
            return None
        c = sanctions.c
        query = select(c.kind, c.until_ms, c.reason, c.user_id, c.name_key, c.address).where(
            c.kind == kind, c.until_ms > now_ms, *(c[k] == v for k, v in where.items())
        )
        row = self._db.read(lambda conn: conn.execute(query.order_by(c.until_ms.desc())).first())
        return None if row is None else Sanction(**row._mapping)

    def audit(self, moderator, action, target, reason, until_ms, ts) -> None:
        row = {"moderator": moderator, "action": action, "target": target, "reason": reason,
               "until_ms": until_ms, "ts": ts}  # fmt: skip
        self._db.write(lambda conn: conn.execute(insert(mod_actions).values(row)))

    def log(self, limit: int) -> list[dict[str, Any]]:
        c = mod_actions.c
        query = select(c.id, c.ts, c.moderator, c.action, c.target, c.reason,
                       c.until_ms.label("until")).order_by(c.id.desc()).limit(limit)  # fmt: skip
        return self._db.read(lambda conn: [dict(r._mapping) for r in conn.execute(query)])

    def report(self, user_id, name, message_id, reason, ts) -> tuple[int, int] | None:
        row = {"user_id": user_id, "name": name, "message_id": message_id, "reason": reason,
               "ts": ts}  # fmt: skip
        statement = (
            self._db.insert(reports).values(row).on_conflict_do_nothing().returning(reports.c.id)
        )
        count = select(func.count()).where(reports.c.message_id == message_id)

        def file(conn: Any) -> tuple[int, int] | None:
            report_id = conn.execute(statement).scalar()
            if report_id is None:  # this user reported it before
                return None
            return report_id, conn.execute(count).scalar_one()

        return self._db.write(file)

    def ignore(self, user_id: str, other_id: str) -> None:
        insert_row = self._db.insert(ignores).values(user_id=user_id, ignored_user_id=other_id)
        self._db.write(lambda conn: conn.execute(insert_row.on_conflict_do_nothing()))

    def unignore(self, user_id: str, other_id: str) -> None:
        c = ignores.c
        statement = delete(ignores).where(c.user_id == user_id, c.ignored_user_id == other_id)
        self._db.write(lambda conn: conn.execute(statement))

    def ignores(self, user_id: str, other_id: str) -> bool:
        c = ignores.c
        query = select(func.count()).where(c.user_id == user_id, c.ignored_user_id == other_id)
        return bool(self._db.read(lambda conn: conn.execute(query).scalar_one()))


def open_moderation(history: Any) -> MemoryModeration | SqlModeration:
    database = getattr(history, "database", None)
    return MemoryModeration() if database is None else SqlModeration(database)
