"""Roles (the domain's `RoleStore`) in this process (`DATABASE_URL=memory://`): a restart
forgets them."""

from __future__ import annotations

import threading

from rpschat.domain.ports import Grant


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
