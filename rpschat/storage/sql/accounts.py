"""Claimed names (the domain's `AccountStore`) and their password hashes in the SQL database,
so a claim outlives restarts and every node sees it (nodes share the database)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from rpschat.domain.ports import Account
from rpschat.storage.sql.database import Database, accounts


class SqlAccounts:
    def __init__(self, database: Database):
        self.database = database

    def get(self, key: str) -> Account | None:
        return self.database.read(_select_one, accounts.c.key == key)

    def of_user(self, user_id: str) -> Account | None:
        return self.database.read(_select_one, accounts.c.user_id == user_id)

    def create(self, account: Account) -> bool:
        row = {
            "key": account.key,
            "name": account.name,
            "user_id": account.user_id,
            "password_hash": account.password_hash,
            "created_at": account.created_at,
        }
        insert = self.database.insert(accounts).values(row).on_conflict_do_nothing()
        return self.database.write(_inserted, insert.returning(accounts.c.key))

    def delete(self, key: str, user_id: str) -> bool:
        statement = delete(accounts).where(accounts.c.key == key, accounts.c.user_id == user_id)
        return self.database.write(_inserted, statement.returning(accounts.c.key))

    def set_password(self, key: str, user_id: str, password_hash: str) -> bool:
        statement = (
            update(accounts)
            .where(accounts.c.key == key, accounts.c.user_id == user_id)
            .values(password_hash=password_hash)
        )
        return self.database.write(_inserted, statement.returning(accounts.c.key))


def _select_one(conn: Any, where: Any) -> Account | None:
    row = conn.execute(select(accounts).where(where)).first()
    return None if row is None else Account(**row._mapping)


def _inserted(conn: Any, statement: Any) -> bool:
    # RETURNING, not rowcount: psycopg's rowcount reads -1 for ON CONFLICT DO NOTHING
    return conn.execute(statement).first() is not None
