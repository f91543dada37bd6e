"""Roles (the domain's `RoleStore`) in the SQL database, which every node shares and which
outlives restarts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from rpschat.domain.ports import Grant
from rpschat.storage.sql.database import Database, role_seeds, roles


class SqlRoles:
    def __init__(self, database: Database):
        self.database = database

    def grant(self, grant: Grant) -> bool:
        return self.database.write(_insert_grant, self.database.insert(roles), grant)

    def revoke(self, user_id: str, role: str) -> bool:
        c = roles.c
        statement = delete(roles).where(c.user_id == user_id, c.role == role).returning(c.role)
        return self.database.write(lambda conn: conn.execute(statement).first() is not None)

    def revoke_all(self, user_id: str) -> list[str]:
        statement = delete(roles).where(roles.c.user_id == user_id).returning(roles.c.role)
        return self.database.write(lambda conn: list(conn.execute(statement).scalars()))

    def has(self, user_id: str, role: str) -> bool:
        c = roles.c
        query = select(c.role).where(c.user_id == user_id, c.role == role)
        return self.database.read(lambda conn: conn.execute(query).first() is not None)

    def holders(self, role: str) -> list[str]:
        query = select(roles.c.user_id).where(roles.c.role == role).order_by(roles.c.user_id)
        return self.database.read(lambda conn: list(conn.execute(query).scalars()))

    def seeded(self, name_key: str, role: str) -> str | None:
        c = role_seeds.c
        query = select(c.user_id).where(c.name_key == name_key, c.role == role)
        return self.database.read(lambda conn: conn.execute(query).scalar())

    def bind_seed(self, name_key: str, grant: Grant) -> bool:
        def bind(conn: Any) -> bool:
            row = {"name_key": name_key, "role": grant.role, "user_id": grant.user_id,
                   "bound_at": grant.granted_at}  # fmt: skip
            insert = self.database.insert(role_seeds).values(row).on_conflict_do_nothing()
            if conn.execute(insert.returning(role_seeds.c.name_key)).first() is None:
                return False
            _insert_grant(conn, self.database.insert(roles), grant)
            return True

        return self.database.write(bind)


def _insert_grant(conn: Any, insert: Any, grant: Grant) -> bool:
    row = {"user_id": grant.user_id, "role": grant.role, "granted_by": grant.granted_by,
           "granted_at": grant.granted_at}  # fmt: skip
    statement = insert.values(row).on_conflict_do_nothing().returning(roles.c.role)
    return conn.execute(statement).first() is not None
