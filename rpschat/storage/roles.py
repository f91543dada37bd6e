"""The domain's RoleStore (domain/ports.py): in the SQL database, which every node shares and
which outlives restarts; in memory for `DATABASE_URL=memory://`."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import delete, select

from rpschat.domain.ports import Grant
from rpschat.storage.database import Database, role_seeds, roles


class MemoryRoles:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: dict[tuple[str, str], Grant] = {}
        self._seeds: dict[tuple[str, str], str] = {}

    def grant(self, grant: Grant) -> bool:
        with self._lock:
            return self._grant(grant)

    def _grant(self, grant: Grant) -> bool:
        key = (grant.user_id, grant.role)
        if key in self._grants:
            return False
        self._grants[key] = grant
        return True

    def revoke(self, user_id: str, role: str) -> bool:
        with self._lock:
            return self._grants.pop((user_id, role), None) is not None

    def revoke_all(self, user_id: str) -> list[str]:
        with self._lock:
            held = [key for key in self._grants if key[0] == user_id]
            for key in held:
                del self._grants[key]
            return [role for _, role in held]

    def has(self, user_id: str, role: str) -> bool:
        return (user_id, role) in self._grants

    def holders(self, role: str) -> list[str]:
        with self._lock:
            return [user_id for user_id, held in self._grants if held == role]

    def seeded(self, name_key: str, role: str) -> str | None:
        return self._seeds.get((name_key, role))

    def bind_seed(self, name_key: str, grant: Grant) -> bool:
        with self._lock:
            if (name_key, grant.role) in self._seeds:
                return False
            self._seeds[(name_key, grant.role)] = grant.user_id
            self._grant(grant)
            return True


class SqlRoles:
    def __init__(self, database: Database):
        self._db = database

    def grant(self, grant: Grant) -> bool:
        return self._db.write(_insert_grant, self._db.insert(roles), grant)

    def revoke(self, user_id: str, role: str) -> bool:
        c = roles.c
        statement = delete(roles).where(c.user_id == user_id, c.role == role).returning(c.role)
        return self._db.write(lambda conn: conn.execute(statement).first() is not None)

    def revoke_all(self, user_id: str) -> list[str]:
        statement = delete(roles).where(roles.c.user_id == user_id).returning(roles.c.role)
        return self._db.write(lambda conn: list(conn.execute(statement).scalars()))

    def has(self, user_id: str, role: str) -> bool:
        c = roles.c
        query = select(c.role).where(c.user_id == user_id, c.role == role)
        return self._db.read(lambda conn: conn.execute(query).first() is not None)

    def holders(self, role: str) -> list[str]:
        query = select(roles.c.user_id).where(roles.c.role == role).order_by(roles.c.user_id)
        return self._db.read(lambda conn: list(conn.execute(query).scalars()))

    def seeded(self, name_key: str, role: str) -> str | None:
        c = role_seeds.c
        query = select(c.user_id).where(c.name_key == name_key, c.role == role)
        return self._db.read(lambda conn: conn.execute(query).scalar())

    def bind_seed(self, name_key: str, grant: Grant) -> bool:
        def bind(conn: Any) -> bool:
            row = {"name_key": name_key, "role": grant.role, "user_id": grant.user_id,
                   "bound_at": grant.granted_at}  # fmt: skip
            insert = self._db.insert(role_seeds).values(row).on_conflict_do_nothing()
            if conn.execute(insert.returning(role_seeds.c.name_key)).first() is None:
                return False
            _insert_grant(conn, self._db.insert(roles), grant)
            return True

        return self._db.write(bind)


def _insert_grant(conn: Any, insert: Any, grant: Grant) -> bool:
    row = {"user_id": grant.user_id, "role": grant.role, "granted_by": grant.granted_by,
           "granted_at": grant.granted_at}  # fmt: skip
    statement = insert.values(row).on_conflict_do_nothing().returning(roles.c.role)
    return conn.execute(statement).first() is not None


def open_roles(history: Any) -> MemoryRoles | SqlRoles:
    """In the history's database, or in memory when it has none (memory://)."""
    database = getattr(history, "database", None)
    return MemoryRoles() if database is None else SqlRoles(database)
