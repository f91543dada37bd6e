"""Claimed names (the domain's `AccountStore`) in this process (`DATABASE_URL=memory://`): a
restart forgets them."""

from __future__ import annotations

import dataclasses
import threading

from rpschat.domain.ports import Account


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
