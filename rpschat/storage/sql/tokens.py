"""Resume tokens in the SQL database: a restarted single-node server still honours them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from rpschat.domain.ports import TokenGrant, token_user
from rpschat.storage.common import split_token
from rpschat.storage.sql.database import Database, sessions

PURGE_EVERY = 500  # issues between sweeps of expired rows


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SqlTokens:
    """The TokenStore (memory/tokens.py) on the `sessions` table."""

    def __init__(self, database: Database, ttl_seconds: float):
        self.database = database
        self._ttl_ms = int(ttl_seconds * 1000)
        self._issued = 0

    def _now_ms(self) -> int:
        return int(self.database.runtime.now() * 1000)

    def issue(self, user_id: str, name: str) -> str:
        secret = secrets.token_urlsafe(32)
        row = {"secret_hash": _hash(secret), "name": name, "expires_at": self._expiry()}
        self._issued += 1
        purge = self._issued % PURGE_EVERY == 0
        self.database.write(
            _upsert, self.database.insert(sessions), user_id, row, purge and self._now_ms()
        )
        return f"{user_id}.{secret}"

    def resolve(self, token: object) -> TokenGrant | None:
        parts = split_token(token)
        if parts is None:
            return None
        user_id, secret = parts
        row = self.database.read(_session_of, user_id)
        if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
            return None
        if row.expires_at <= self._now_ms():
            return None
        self.database.write(_set, user_id, {"expires_at": self._expiry()})
        return TokenGrant(token_user(user_id), row.name)

    def rename(self, user_id: str, name: str) -> None:
        self.database.write(_set, user_id, {"name": name})

    def revoke_user(self, user_id: str) -> None:
        """The user's own token (id `user_id`) and its log-ins' (`user_id_...`): an index range
        ("_" is 0x5F, "`" the next character)."""
        c = sessions.c
        of_user = or_(
            c.user_id == user_id, and_(c.user_id > f"{user_id}_", c.user_id < f"{user_id}`")
        )
        self.database.write(lambda conn: conn.execute(delete(sessions).where(of_user)))

    def _expiry(self) -> int:
        return self._now_ms() + self._ttl_ms


def _upsert(conn: Any, insert: Any, user_id: str, row: dict, purge_before: int | bool) -> None:
    if purge_before:
        conn.execute(delete(sessions).where(sessions.c.expires_at < purge_before))
    statement = insert.values(user_id=user_id, **row)
    conn.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=row))


def _session_of(conn: Any, user_id: str) -> Any:
    query = select(sessions.c.secret_hash, sessions.c.name, sessions.c.expires_at)
    return conn.execute(query.where(sessions.c.user_id == user_id)).first()


def _set(conn: Any, user_id: str, values: dict) -> None:
    conn.execute(update(sessions).where(sessions.c.user_id == user_id).values(**values))
