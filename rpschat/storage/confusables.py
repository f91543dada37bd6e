"""UTS #39 confusable skeletons from ICU's SpoofChecker (PyICU, packaged with ICU as
`pyicu-wheels`), and the name rules built on them (domain/names.py)."""

from __future__ import annotations

import icu

from rpschat.domain.names import NameRules

_checker = icu.SpoofChecker()


def uts39_skeleton(text: str) -> str:
    return _checker.getSkeleton(0, text)


NAME_RULES = NameRules(uts39_skeleton)
look_alike_key = NAME_RULES.key
