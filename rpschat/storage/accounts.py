"""Claimed names (the domain's `AccountStore`) and their password hashes.

In the SQL database, so a claim outlives restarts and every node sees it (nodes share the
database); in memory for `DATABASE_URL=memory://`, where a restart forgets them.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import argon2
from sqlalchemy import delete, select, update

from rpschat.domain.ports import Account
from rpschat.storage.database import Database, accounts


class Argon2Passwords:
    """Argon2id (argon2-cffi's defaults: RFC 9106's low-memory profile, 64 MiB, 3 passes).
    Tests pass cheaper parameters; a hash says its own, so they verify anywhere."""

    def __init__(self, **parameters: Any):
        self._hasher = argon2.PasswordHasher(type=argon2.Type.ID, **parameters)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError:
            return False


class MemoryAccounts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, Account] = {}

    def get(self, key: str) -> Account | None:
        return self._by_key.get(key)

    def of_user(self, user_id: str) -> Account | None:
        with self._lock:
            return next((a for a in self._by_key.values() if a.user_id == user_id), None)

    def create(self, account: Account) -> bool:
        with self._lock:
            if account.key in self._by_key or self._of_user(account.user_id):
                return False
            self._by_key[account.key] = account
            return True

    def _of_user(self, user_id: str) -> bool:
        return any(a.user_id == user_id for a in self._by_key.values())

    def delete(self, key: str, user_id: str) -> bool:
        with self._lock:
            account = self._by_key.get(key)
            if account is None or account.user_id != user_id:
                return False
            del self._by_key[key]
            return True

    def set_password(self, key: str, user_id: str, password_hash: str) -> bool:
        with self._lock:
            account = self._by_key.get(key)
            if account is None or account.user_id != user_id:
                return False
            self._by_key[key] = dataclasses.replace(account, password_hash=password_hash)
            return True


class SqlAccounts:
    def __init__(self, database: Database):
        self._db = database

    def get(self, key: str) -> Account | None:
        return self._db.read(_select_one, accounts.c.key == key)

    def of_user(self, user_id: str) -> Account | None:
        return self._db.read(_select_one, accounts.c.user_id == user_id)

    def create(self, account: Account) -> bool:
        row = {
            "key": account.key,
            "name": account.name,
            "user_id": account.user_id,
            "password_hash": account.password_hash,
            "created_at": account.created_at,
        }
        insert = self._db.insert(accounts).values(row).on_conflict_do_nothing()
        return self._db.write(_inserted, insert.returning(accounts.c.key))

    def delete(self, key: str, user_id: str) -> bool:
        statement = delete(accounts).where(accounts.c.key == key, accounts.c.user_id == user_id)
        return self._db.write(_inserted, statement.returning(accounts.c.key))

    def set_password(self, key: str, user_id: str, password_hash: str) -> bool:
        statement = (
            update(accounts)
            .where(accounts.c.key == key, accounts.c.user_id == user_id)
            .values(password_hash=password_hash)
        )
        return self._db.write(_inserted, statement.returning(accounts.c.key))


def _select_one(conn: Any, where: Any) -> Account | None:
    row = conn.execute(select(accounts).where(where)).first()
    return None if row is None else Account(**row._mapping)


def _inserted(conn: Any, statement: Any) -> bool:
    # RETURNING, not rowcount: psycopg's rowcount reads -1 for ON CONFLICT DO NOTHING
    return conn.execute(statement).first() is not None


def open_accounts(history: Any) -> MemoryAccounts | SqlAccounts:
    """In the history's database, or in memory when it has none (memory://)."""
    database = getattr(history, "database", None)
    return MemoryAccounts() if database is None else SqlAccounts(database)
