"""Provably fair computer rounds: commit to the computer's move before the player throws,
reveal it after.

As a round against the computer starts, its move is already chosen (game/computer.py); the
`round_started` event carries `commit = sha256("<move>:<salt>")` (hex), with a fresh random
salt of 128 bits, and the `round_result` reveals the salt. Anyone can then check that the move
shown is the one committed to (docs/protocol.md has the three lines of Python): the server could
not change it after seeing the player's throw. The salt makes the commitment hiding: with three
possible moves, a bare hash of the move would give it away.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SALT_BYTES = 16


def new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


def commitment(move: str, salt: str) -> str:
    """sha256 of "<move>:<salt>" (UTF-8), in hex."""
    return hashlib.sha256(f"{move}:{salt}".encode()).hexdigest()


def verified(commit: str | None, move: str | None, salt: str | None) -> bool:
    """Whether `move` and `salt` open `commit`."""
    if not commit or not move or not salt:
        return False
    return hmac.compare_digest(commitment(move, salt), commit)
