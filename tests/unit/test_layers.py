"""Dependencies point one way: the domain is plain Python that imports only the standard library
and itself; storage implements the domain's ports and never reaches into the web layer."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rpschat"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, nested ones included."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def violations(layer: str, allowed) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for line, module in imported_modules(path):
            if not allowed(module):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    return found


def is_stdlib(module: str) -> bool:
    return module.split(".")[0] in sys.stdlib_module_names or module == "__future__"


def within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_domain_imports_only_the_standard_library_and_itself():
    # so no Flask, Socket.IO, eventlet, SQLAlchemy or Redis, and no storage, web or composition
    assert violations("domain", lambda m: is_stdlib(m) or within(m, "rpschat.domain")) == []


def test_storage_never_imports_the_web_layer_or_the_composition_root():
    forbidden = ("rpschat.web", "rpschat.composition", "app", "flask", "flask_socketio", "socketio")
    assert violations("storage", lambda m: not within(m, *forbidden)) == []


def test_the_web_layer_never_imports_the_composition_root():
    # web -> domain <- storage; app.py and the composition root put them together
    assert violations("web", lambda m: not within(m, "rpschat.composition")) == []


def test_the_composition_root_imports_no_web_module():
    imported = imported_modules(PACKAGE / "composition.py")
    assert [m for _, m in imported if within(m, "rpschat.web")] == []


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("from rpschat.storage.memory.directory import X", "rpschat.storage.memory.directory"),
        ("import eventlet", "eventlet"),
        ("def f():\n    from flask import Flask", "flask"),
        ("from ..storage import history", "rpschat.storage"),
    ],
)
def test_the_check_sees_every_kind_of_import(tmp_path, monkeypatch, source, module):
    """The rule holds only if the walk finds absolute, nested and relative imports alike."""
    fake = tmp_path / "rpschat"
    (fake / "domain").mkdir(parents=True)
    (fake / "domain" / "bad.py").write_text(source + "\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)

    found = violations("domain", lambda m: is_stdlib(m) or within(m, "rpschat.domain"))
    assert found == [f"rpschat/domain/bad.py:{source.count(chr(10)) + 1} imports {module}"]


# ---- the typed web/domain boundary: the web layer reads payloads and shapes acks -----------

# The domain services the web layer calls (issue 13). A service joining the boundary: one line.
TYPED_SERVICES = [
    ("rpschat.domain.connections", "Connections"),
    ("rpschat.domain.sessions", "Sessions"),
    ("rpschat.domain.identity", "Identity"),
    ("rpschat.domain.claims", "ClaimedNames"),
    ("rpschat.domain.lobby", "Lobby"),
    ("rpschat.domain.dms", "DmService"),
    ("rpschat.domain.moderation", "ModerationService"),
    ("rpschat.domain.game.service", "GameService"),
    ("rpschat.domain.game.pairing", "Pairing"),
    ("rpschat.domain.game.lifecycle", "MatchLifecycle"),
    ("rpschat.domain.game.spectating", "Spectating"),
    ("rpschat.domain.game.records", "GameRecords"),
]


def is_ack(annotation) -> bool:
    """Annotated as a dict, or as a callable that returns one (the slow part of an event answered
    later). A named type is no ack: a dataclass, or an alias such as the game's view."""
    if annotation is inspect.Signature.empty:
        return False
    if not isinstance(annotation, str):  # a module without postponed annotations
        annotation = inspect.formatannotation(annotation)
    return _is_ack(ast.parse(annotation, mode="eval").body)


def _is_ack(node: ast.expr) -> bool:
    if isinstance(node, ast.Subscript):
        if _named(node.value) == "Callable" and isinstance(node.slice, ast.Tuple):
            return _is_ack(node.slice.elts[-1])
        node = node.value
    return _named(node) == "dict"


def _named(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def untyped_methods(classes) -> list[str]:
    """Public methods that take a client's `payload` or return an ack dict (or a slow part that
    does): reading payloads and shaping acks is web/*_events.py's work."""
    found = []
    for cls in classes:
        for name, method in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_"):
                continue
            signature = inspect.signature(method)
            if "payload" in signature.parameters:
                found.append(f"{cls.__name__}.{name} takes a payload")
            if is_ack(signature.return_annotation):
                found.append(f"{cls.__name__}.{name} returns an ack dict")
    return found


@pytest.mark.parametrize(("module", "name"), TYPED_SERVICES)
def test_the_domain_services_take_typed_arguments_and_return_no_acks(module, name):
    assert untyped_methods([getattr(importlib.import_module(module), name)]) == []


def test_the_boundary_check_sees_payloads_and_acks():
    GameView = dict[str, Any]  # an alias, as the game view is declared

    class Untyped:
        def throw(self, sid: str, payload: Any) -> dict: ...

        def check_my_games(self, sid: str, before: int) -> Callable[[], dict]: ...

        def watch(self, sid: str, game_id: str) -> dict[str, Any]: ...

        def page(self, sid: str) -> list[dict]: ...  # messages, not an ack

        def view(self, sid: str) -> GameView: ...  # a named type, not an ack

        def _helper(self, payload: Any) -> dict: ...  # private: not an event

    assert untyped_methods([Untyped]) == [
        "Untyped.check_my_games returns an ack dict",
        "Untyped.throw takes a payload",
        "Untyped.throw returns an ack dict",
        "Untyped.watch returns an ack dict",
    ]
