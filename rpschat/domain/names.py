"""What makes two names look the same, and which names nobody may take.

Look-alikes are found with the confusable skeletons of Unicode Technical Standard #39: two names
whose skeletons match are shown to people as the same name ("Аda" in Cyrillic and "Ada"). The
skeleton function is handed in (storage/confusables.py: ICU's, through PyICU), so the domain
stays plain Python.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import lru_cache

from rpschat.domain.errors import Code, Refused

# Names the page or the server speak as (the page shows your own lines as "Me").
RESERVED = ("Me", "You", "System", "Server", "Admin", "Moderator", "Computer")

# Characters drawn as nothing or as a blank, though Unicode does not call them spaces nor
# default-ignorable (so NFKC and the skeleton keep them): fillers and the blank Braille pattern.
BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5\u180e")

PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_CHARS = 128
PASSWORD_REFUSAL = (
    f"A password must be a string of {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters."
)


class NameRules:
    """Look-alike keys and the names refused outright, for one skeleton function."""

    def __init__(self, skeleton: Callable[[str], str]):
        self._skeleton = skeleton
        self.key = lru_cache(maxsize=65536)(self._key)
        self._reserved = {self.key(name): name for name in RESERVED}

    def _key(self, name: str) -> str:
        """Equal for names that look the same in lower case: the skeleton of the case-folded
        name, blanks and invisible characters left out (so "Ada\u3164" is "Ada"). Case-folded
        first, so names equal but for case always share it (the directory's key)."""
        folded = unicodedata.normalize("NFKC", name).casefold()
        visible = "".join(ch for ch in folded if ch not in BLANKS and not ch.isspace())
        return unicodedata.normalize("NFKC", self._skeleton(visible)).casefold()

    def keys(self, name: str) -> tuple[str, ...]:
        """The name's key, and the key of its skeleton as typed: a capital that looks like a
        Latin one only as a capital (Cyrillic "М" in "Мe") is caught by the second."""
        first = self.key(name)
        second = self.key(self._skeleton(unicodedata.normalize("NFKC", name)))
        return (first,) if second == first else (first, second)

    def check_allowed(self, name: str) -> None:
        """Refuses names that show as nothing and names reserved for the page and the server."""
        if not self.key(name) or all(_invisible(ch) for ch in name):
            raise Refused(Code.BAD_NAME, "Your name must have a visible character.")
        for key in self.keys(name):
            reserved = self._reserved.get(key)
            if reserved is not None:
                raise Refused(
                    Code.NAME_RESERVED,
                    f"'{reserved}' is reserved (in any case or look-alike): pick another name.",
                )


def _invisible(ch: str) -> bool:
    return (
        ch in BLANKS
        or ch.isspace()
        or unicodedata.category(ch) in ("Mn", "Me", "Cf", "Cc", "Co", "Cn", "Zs")
    )


def look_alike_refusal(name: str, other: str, claimed: bool) -> Refused:
    what = "the claimed name" if claimed else "the name"
    return Refused(
        Code.NAME_LOOK_ALIKE,
        f"'{name}' looks too much like {what} '{other}', which is taken: pick another.",
    )


def clean_password(raw: object) -> str:
    if not isinstance(raw, str) or not PASSWORD_MIN_CHARS <= len(raw) <= PASSWORD_MAX_CHARS:
        raise Refused(Code.BAD_PASSWORD, PASSWORD_REFUSAL)
    if "\x00" in raw or any("\ud800" <= ch <= "\udfff" for ch in raw):
        raise Refused(
            Code.BAD_PASSWORD, "A password can't contain NUL or lone surrogate characters."
        )
    return raw
