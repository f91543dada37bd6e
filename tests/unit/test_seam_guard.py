"""The web layer's seams in python-socketio (rpschat/web/seams.py): this fails, naming the
library and its version, when code a seam relies on changes. When it fails after an upgrade:
read the library's change to that code, adapt the subclass, then update the digest."""

from __future__ import annotations

import hashlib
import importlib
import inspect
from importlib.metadata import version

import pytest

from rpschat.web.seams import RELIES_ON, WRITTEN_AGAINST


def resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
            break
        except ImportError:
            continue
    for part in parts[i:]:
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("dotted", sorted(RELIES_ON))
def test_library_code_a_seam_relies_on_is_unchanged(dotted):
    expected, seam = RELIES_ON[dotted]
    dist, written_against = WRITTEN_AGAINST[dotted.split(".")[0]]
    library = f"{dist} {version(dist)} (the seam was written against {written_against})"
    try:
        obj = resolve(dotted)
    except AttributeError:
        pytest.fail(f"{library}: {dotted} is gone; seam {seam!r} relies on it")
    got = hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:12]
    assert got == expected, (
        f"{library}: {dotted} changed (source sha256 {expected} -> {got}); "
        f"seam {seam!r} relies on it: review it (docs/transport.md), then update RELIES_ON"
    )
