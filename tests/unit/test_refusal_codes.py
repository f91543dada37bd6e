"""The registry of refusal codes (rpschat/domain/errors.py): every refusal names a registered
code, every code is used, and docs/protocol.md's table is the registry's."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from rpschat.domain.errors import (
    TABLE_END,
    TABLE_START,
    Code,
    Refused,
    codes_table,
    retry_after,
    with_codes_table,
)

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "docs" / "protocol.md"
SOURCES = sorted((ROOT / "rpschat").rglob("*.py"))
REGISTRY = ROOT / "rpschat" / "domain" / "errors.py"

# The codes clients (the page included) are written against: never renamed.
AGREED = (
    "bad_request", "unknown_event", "internal_error", "name_required", "rate_limited",
    "too_many_names", "too_many_attempts", "too_many_connections", "name_taken",
    "name_look_alike", "name_claimed", "wrong_password", "muted", "banned", "kicked",
    "not_online", "ignored", "already_threw", "already_queued", "not_queued", "in_game",
    "time_is_up", "game_over", "session_expired",
)  # fmt: skip
WAITING = ("rate_limited", "too_many_names", "too_many_attempts", "muted", "banned", "kicked",
           "unavailable", "restarting")  # fmt: skip


def parsed(path: Path) -> ast.Module:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node  # type: ignore[attr-defined]
    return tree


def refusal_classes() -> set[str]:
    """`Refused` and every class in rpschat that derives from it (by name)."""
    classes = {"Refused"}
    bases = {}
    for path in SOURCES:
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = {b.id for b in node.bases if isinstance(b, ast.Name)}
    while True:
        more = {name for name, of in bases.items() if of & classes} - classes
        if not more:
            return classes
        classes |= more


def enclosing(node: ast.AST, kind: type) -> ast.AST | None:
    while node is not None and not isinstance(node, kind):
        node = getattr(node, "parent", None)
    return node


def is_code_parameter(name: ast.Name, call: ast.Call) -> bool:
    """A parameter of the enclosing function annotated `Code` (a helper handed the code)."""
    function = enclosing(call, ast.FunctionDef)
    if function is None:
        return False
    for arg in function.args.args + function.args.kwonlyargs:
        if arg.arg == name.id:
            return isinstance(arg.annotation, ast.Name) and arg.annotation.id == "Code"
    return False


def registered_member(node: ast.AST) -> bool:
    """`Code.X`, X a registered member."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "Code"
        and node.attr in Code.__members__
    )


def code_of(call: ast.Call) -> str | None:
    """The registered code a refusal's first argument names, or None."""
    if not call.args:
        return None
    first = call.args[0]
    if registered_member(first):
        return first.attr
    if isinstance(first, ast.Name) and is_code_parameter(first, call):
        return "(a Code parameter)"
    return None


def refusal_calls() -> list[tuple[str, ast.Call]]:
    """Every `Refused(...)` call, and every `super().__init__(...)` in a refusal class."""
    classes = refusal_classes()
    calls = []
    for path in SOURCES:
        where = path.relative_to(ROOT)
        for node in ast.walk(parsed(path)):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Name) and node.func.id == "Refused":
                calls.append((f"{where}:{node.lineno}", node))
            elif _is_super_init(node):
                owner = enclosing(node, ast.ClassDef)
                if owner is not None and owner.name in classes - {"Refused"}:
                    calls.append((f"{where}:{node.lineno}", node))
    return calls


def _is_super_init(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
    )


def test_every_refusal_names_a_registered_code():
    calls = refusal_calls()
    assert len(calls) > 100  # the scan sees the refusals (118 when codes came in)
    missing = [where for where, call in calls if code_of(call) is None]
    assert missing == [], f"refusals without a registered Code.X first argument: {missing}"


def test_every_registered_code_is_used():
    used = set()
    for path in SOURCES:
        if path == REGISTRY:
            continue
        for node in ast.walk(parsed(path)):
            if registered_member(node):
                used.add(node.attr)
    assert set(Code.__members__) - used == set(), "codes no refusal carries"


def test_a_refusal_without_a_registered_code_is_a_bug():
    with pytest.raises(TypeError):
        Refused("rate_limited", "You are sending too fast.")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Refused(Code.RATE_LIMITED, "...", error="an answer's own key")


def test_the_agreed_codes_are_registered_with_their_meaning():
    values = [code.value for code in Code]
    assert set(AGREED) <= set(values)
    assert len(values) == len(set(values))
    for code in Code:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", code.value), code
        assert code.meaning.endswith(".") and code.events, code
        assert set(code.details) <= {"retry_after", "field", "until"}, code
    for value in WAITING:
        assert "retry_after" in Code(value).details, value


def table_rows(text: str) -> dict[str, str]:
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\| `([a-z_]+)` \|", line)
        if match:
            rows[match.group(1)] = line
    return rows


def test_the_protocol_documents_every_code_and_no_other():
    doc = PROTOCOL.read_text(encoding="utf-8")
    assert doc.count(TABLE_START) == 1 and doc.count(TABLE_END) == 1
    documented = table_rows(doc.partition(TABLE_START)[2].partition(TABLE_END)[0])
    registered = table_rows(codes_table())
    assert registered.keys() - documented.keys() == set(), "registered, not in docs/protocol.md"
    assert documented.keys() - registered.keys() == set(), "in docs/protocol.md, not registered"
    assert documented == registered, "run: python -m rpschat.domain.errors docs/protocol.md"
    assert with_codes_table(doc) == doc


def test_every_code_is_named_in_an_events_section_too():
    """Each event's section names its codes: every code appears outside the table."""
    doc = PROTOCOL.read_text(encoding="utf-8")
    head, _, rest = doc.partition(TABLE_START)
    prose = head + rest.partition(TABLE_END)[2]
    unnamed = [c.value for c in Code if f"`{c.value}`" not in prose and f'"{c.value}"' not in prose]
    assert unnamed == []


@pytest.mark.parametrize(
    ("seconds", "sent"),
    [(1.2, 1.2), (1.21, 1.3), (0.0001, 0.1), (0, 0.1), (12.0, 12.0), (59.95, 60.0)],
)
def test_retry_after_is_rounded_up_to_a_tenth_and_never_zero(seconds, sent):
    assert retry_after(seconds) == sent
