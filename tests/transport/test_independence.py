"""eiotransport is a package of its own: no module of it imports rpschat (or app), however the
import is written, so any python-socketio application can install it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "eiotransport"
APPLICATION = ("rpschat", "app")


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file: nested, conditional
    (TYPE_CHECKING) and relative ones included, relative ones resolved against its package."""
    package = path.relative_to(root.parent).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from . import x` / `from .. import x`: x may itself be a module
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def application_imports(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for line, module in imported_modules(path, root):
            if module.split(".")[0] in APPLICATION:
                found.append(f"{path.relative_to(root.parent)}:{line} imports {module}")
    return found


def test_no_module_of_the_transport_imports_the_application():
    assert sorted(PACKAGE.rglob("*.py")), "the walk found no file"
    assert application_imports(PACKAGE) == []


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("from rpschat.ops import counters", "rpschat.ops"),
        ("import rpschat.web.wire_json as wire_json", "rpschat.web.wire_json"),
        ("def f():\n    from rpschat.domain import errors", "rpschat.domain"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import app", "app"),
        ("from importlib import import_module\nfrom rpschat import config", "rpschat"),
    ],
)
def test_the_walk_sees_every_kind_of_import(tmp_path, source, module):
    fake = tmp_path / "eiotransport"
    (fake / "inner").mkdir(parents=True)
    (fake / "inner" / "bad.py").write_text(source + "\n")
    # relative imports stay inside the package: `from .. import rpschat` here would be
    # eiotransport.rpschat
    (fake / "inner" / "good.py").write_text("import engineio\nfrom .. import rpschat, frames\n")
    line = source.count("\n") + 1
    found = application_imports(fake)
    assert found and found[0] == f"eiotransport/inner/bad.py:{line} imports {module}"
    assert all("good.py" not in entry for entry in found)
