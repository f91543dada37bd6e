"""Validation of what people type: names, messages, client message ids."""

from __future__ import annotations

import re
import unicodedata

from rpschat.domain.errors import Code, Refused

MAX_NAME_CHARS = 32
MAX_CLIENT_ID_CHARS = 64
NOT_A_MESSAGE = "A message must be a string."
CLIENT_ID_REFUSAL = f"client_id must be a string of 1 to {MAX_CLIENT_ID_CHARS} characters."
NOT_A_NAME = "Your name must be a string."
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_name(raw: object) -> str:
    """The name as it will be shown: trimmed, 1 to 32 characters, no control characters."""
    if not isinstance(raw, str):
        raise Refused(Code.BAD_REQUEST, NOT_A_NAME)
    name = raw.strip()
    if not name:
        raise Refused(Code.BAD_NAME, "Your name can't be empty.")
    if len(name) > MAX_NAME_CHARS:
        raise Refused(Code.BAD_NAME, f"Your name can be at most {MAX_NAME_CHARS} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise Refused(Code.BAD_NAME, "Your name can't contain control characters.")
    if _unstorable(name):
        raise Refused(Code.BAD_NAME, "Your name can't contain lone surrogate characters.")
    return name


def _unstorable(text: str) -> bool:
    r"""NUL (PostgreSQL's text can't hold it) or a lone surrogate (JSON lets a client send
    "\ud800"; it is no character at all and UTF-8 can't encode it: SQLite, PostgreSQL and Redis
    all fail on it). Paired surrogates arrive already joined into one character."""
    return _UNSTORABLE.search(text) is not None


def name_key(name: str) -> str:
    """What makes two names the same: case-insensitive, Unicode-aware."""
    return unicodedata.normalize("NFKC", name).casefold()


def clean_message(raw: object, max_chars: int) -> str:
    """Message text, relayed verbatim: only its type and length are checked."""
    if not isinstance(raw, str):
        raise Refused(Code.BAD_REQUEST, NOT_A_MESSAGE)
    if not raw.strip():
        raise Refused(Code.BAD_MESSAGE, "A message can't be empty.")
    if len(raw) > max_chars:
        raise Refused(Code.BAD_MESSAGE, f"A message can be at most {max_chars} characters.")
    if _unstorable(raw):
        raise Refused(Code.BAD_MESSAGE, "A message can't contain NUL or lone surrogate characters.")
    return raw


def clean_client_id(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not 1 <= len(raw) <= MAX_CLIENT_ID_CHARS:
        raise Refused(Code.BAD_REQUEST, CLIENT_ID_REFUSAL, field="client_id")
    if _unstorable(raw):
        raise Refused(
            Code.BAD_REQUEST,
            "client_id can't contain NUL or lone surrogate characters.",
            field="client_id",
        )
    return raw
