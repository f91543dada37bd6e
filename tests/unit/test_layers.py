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


# The transport (eiotransport, beside rpschat) as the application may use it: its face (install,
# counts, the documented options and middlewares) and the two modules it documents as imported
# by themselves because they need eventlet. Its insides are its own business.
TRANSPORT_FACE = ("eiotransport", "eiotransport.server", "eiotransport.process")


def test_the_application_uses_the_transport_only_through_its_face():
    files = sorted(PACKAGE.rglob("*.py")) + [PACKAGE.parent / "app.py"]
    inside = []
    for path in files:
        for line, module in imported_modules(path):
            if within(module, "eiotransport") and module not in TRANSPORT_FACE:
                inside.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    assert inside == []


# ---- one home per thing, services wired once ---------------------------------------------------

MAX_CLASS_LINES = 300


def classes(root: Path) -> list[tuple[Path, ast.ClassDef]]:
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        found += [(path, node) for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    return found


def test_every_class_name_is_used_once():
    homes: dict[str, list[str]] = {}
    for path, node in classes(PACKAGE):
        homes.setdefault(node.name, []).append(str(path.relative_to(PACKAGE.parent)))
    assert {name: paths for name, paths in homes.items() if len(paths) > 1} == {}


ENUMS = ("Enum", "IntEnum", "StrEnum")


def test_no_domain_class_is_over_300_lines():
    """An enum is exempt: a table of values (the refusal codes' registry), not behaviour."""
    long = [
        f"{path.relative_to(PACKAGE.parent)}: {node.name} ({node.end_lineno - node.lineno + 1})"
        for path, node in classes(PACKAGE / "domain")
        if node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES
        and not any(_named(base) in ENUMS for base in node.bases)
    ]
    assert long == []


def is_any(annotation: ast.expr | None) -> bool:
    """`Any`, `Any | None` or `Optional[Any]`: a collaborator nobody can check."""
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        annotation = ast.parse(annotation.value, mode="eval").body
    if isinstance(annotation, ast.BinOp):
        return is_any(annotation.left) or is_any(annotation.right)
    if isinstance(annotation, ast.Subscript) and _named(annotation.value) == "Optional":
        return is_any(annotation.slice)
    return _named(annotation) == "Any"


def any_typed_collaborators(root: Path) -> list[str]:
    """Fields of a class (a dataclass's, or what `__init__` takes) typed `Any`."""
    found = []
    for path, node in classes(root):
        fields = [item for item in node.body if isinstance(item, ast.AnnAssign)]
        names = [(f.target.id, f.annotation) for f in fields if isinstance(f.target, ast.Name)]
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                arguments = item.args.args[1:] + item.args.kwonlyargs
                names += [(argument.arg, argument.annotation) for argument in arguments]
        where = path.relative_to(root)
        found += [
            f"{where}: {node.name}.{name}" for name, annotation in names if is_any(annotation)
        ]
    return found


def test_no_domain_service_has_an_any_typed_collaborator():
    assert any_typed_collaborators(PACKAGE / "domain") == []


def test_the_check_sees_any_typed_collaborators(tmp_path):
    (tmp_path / "bad.py").write_text(
        "from dataclasses import dataclass\n"
        "@dataclass\nclass Chat:\n    guard: Any = None\n    dms: 'Any | None' = None\n"
        "    names: list[Any] = None\n"
        "class Games:\n    def __init__(self, chat: Optional[Any], n: int) -> None: ...\n"
    )
    found = any_typed_collaborators(tmp_path)
    assert [entry.split(": ")[1] for entry in found] == ["Chat.guard", "Chat.dms", "Games.chat"]


def test_the_database_is_opened_by_the_composition_root_alone():
    opened = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and _named(node.func) == "Database":
                opened.append(str(path.relative_to(PACKAGE.parent)))
    assert opened == ["rpschat/composition.py"]


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
