"""Password hashes (the domain's `PasswordHasher`): Argon2id, through argon2-cffi."""

from __future__ import annotations

from typing import Any

import argon2


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
