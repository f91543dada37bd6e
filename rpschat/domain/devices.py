"""Device tokens: proof that a browser logged in to an account before.

Strangers' wrong guesses used to lock an account's owner out: five wrong passwords from anywhere
used up the name's LOGIN_RATE, and the owner's right one was refused (issue 21). Password
attempts are now limited per address, per name and address, and (for devices the account does
not know) per name in all, against guessing from many addresses. A device the account knows is
exempt from the per-name limits: a successful log-in or claim gives the client a device token
(`device` in the ack), which it sends back with its next log-ins.

A token is `d1.<user id>.<nonce>.<mac>`, the mac an HMAC-SHA256 of the user id and nonce under a
key derived from SECRET_KEY: any node with the same SECRET_KEY checks it, nothing is stored, and
it is worth nothing for another account (a name claimed by someone else has another user id). It
opens nothing: the password is still needed; only the per-name counting is skipped.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "d1"
MAX_TOKEN_CHARS = 200


class DeviceTokens:
    def __init__(self, secret_key: str | bytes):
        key = secret_key.encode() if isinstance(secret_key, str) else secret_key
        self._key = hmac.new(key, b"rpschat device tokens", hashlib.sha256).digest()

    def issue(self, user_id: str) -> str:
        nonce = secrets.token_urlsafe(12)
        return f"{PREFIX}.{user_id}.{nonce}.{self._mac(user_id, nonce)}"

    def known(self, token: object, user_id: str) -> bool:
        """Whether `token` is a device token this server gave to a log-in of `user_id`."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            return False
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != PREFIX or parts[1] != user_id:
            return False
        return hmac.compare_digest(parts[3], self._mac(user_id, parts[2]))

    def _mac(self, user_id: str, nonce: str) -> str:
        message = f"{user_id}|{nonce}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]
