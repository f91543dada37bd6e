"""The domain's ModerationStore (domain/ports.py) in the SQL database, which every node shares
and which outlives restarts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update

from rpschat.domain.ports import Sanction
from rpschat.storage.sql.database import (
    Database,
    ignores,
    mod_actions,
    reports,
    room_settings,
    sanctions,
)


class SqlModeration:
    def __init__(self, database: Database):
        self.database = database

    def setting(self, key: str) -> str | None:
        query = select(room_settings.c.value).where(room_settings.c.key == key)
        return self.database.read(lambda conn: conn.execute(query).scalar())

    def set_setting(self, key: str, value: str) -> None:
        statement = (
            self.database.insert(room_settings)
            .values(key=key, value=value)
            .on_conflict_do_update(index_elements=["key"], set_={"value": value})
        )
        self.database.write(lambda conn: conn.execute(statement))

    def add(self, sanction: Sanction) -> None:
        row = {f: getattr(sanction, f) for f in
               ("kind", "user_id", "name_key", "address", "until_ms", "reason")}  # fmt: skip
        self.database.write(lambda conn: conn.execute(insert(sanctions).values(row)))

    def remove(self, kind: str, user_id: str | None, name_key: str | None = None) -> bool:
        def lift(conn: Any) -> bool:
            now = int(self.database.runtime.now() * 1000)
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

        return self.database.write(lift)

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
        c = sanctions.c
        query = select(c.kind, c.until_ms, c.reason, c.user_id, c.name_key, c.address).where(
            c.kind == kind, c.until_ms > now_ms, *(c[k] == v for k, v in where.items())
        )
        row = self.database.read(
            lambda conn: conn.execute(query.order_by(c.until_ms.desc())).first()
        )
        return None if row is None else Sanction(**row._mapping)

    def audit(self, moderator, action, target, reason, until_ms, ts) -> None:
        row = {"moderator": moderator, "action": action, "target": target, "reason": reason,
               "until_ms": until_ms, "ts": ts}  # fmt: skip
        self.database.write(lambda conn: conn.execute(insert(mod_actions).values(row)))

    def log(self, limit: int) -> list[dict[str, Any]]:
        c = mod_actions.c
        query = select(c.id, c.ts, c.moderator, c.action, c.target, c.reason,
                       c.until_ms.label("until")).order_by(c.id.desc()).limit(limit)  # fmt: skip
        return self.database.read(lambda conn: [dict(r._mapping) for r in conn.execute(query)])

    def report(
        self, user_id: str, name: str, message_id: int, reason: str, ts: int
    ) -> tuple[int, int] | None:
        row = {"user_id": user_id, "name": name, "message_id": message_id, "reason": reason,
               "ts": ts}  # fmt: skip
        statement = (
            self.database.insert(reports)
            .values(row)
            .on_conflict_do_nothing()
            .returning(reports.c.id)
        )
        count = select(func.count()).where(reports.c.message_id == message_id)

        def file(conn: Any) -> tuple[int, int] | None:
            report_id = conn.execute(statement).scalar()
            if report_id is None:  # this user reported it before
                return None
            return report_id, conn.execute(count).scalar_one()

        return self.database.write(file)

    def open_reports(self, limit: int) -> list[dict[str, Any]]:
        c = reports.c
        query = (
            select(c.message_id, c.name, c.reason, c.ts)
            .where(c.resolved_at.is_(None))
            .order_by(c.id.desc())
            .limit(limit)
        )
        rows = self.database.read(lambda conn: conn.execute(query).all())
        return [dict(row._mapping) for row in rows]

    def resolve_reports(self, message_id: int, ts: int) -> int:
        c = reports.c
        statement = (
            update(reports)
            .where(c.message_id == message_id, c.resolved_at.is_(None))
            .values(resolved_at=ts)
        )
        return int(self.database.write(lambda conn: conn.execute(statement).rowcount))

    def ignore(self, user_id: str, other_id: str) -> None:
        insert_row = self.database.insert(ignores).values(user_id=user_id, ignored_user_id=other_id)
        self.database.write(lambda conn: conn.execute(insert_row.on_conflict_do_nothing()))

    def unignore(self, user_id: str, other_id: str) -> None:
        c = ignores.c
        statement = delete(ignores).where(c.user_id == user_id, c.ignored_user_id == other_id)
        self.database.write(lambda conn: conn.execute(statement))

    def ignores(self, user_id: str, other_id: str) -> bool:
        c = ignores.c
        query = select(func.count()).where(c.user_id == user_id, c.ignored_user_id == other_id)
        return bool(self.database.read(lambda conn: conn.execute(query).scalar_one()))
