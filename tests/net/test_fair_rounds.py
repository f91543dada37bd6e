"""Provably fair computer rounds on a real server (issue 26, point 7): every round's commitment
is opened by the revealed salt with the three lines docs/protocol.md gives, and the check fails
on a tampered salt (or move)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.net

DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


@pytest.fixture(scope="module")
def server():
    with ServerProcess({"DATABASE_URL": "memory://", "RATE_LIMIT": "0"}) as srv:
        yield srv


def documented_verify():
    """The snippet under "Provably fair computer rounds", run as it is written there."""
    section = DOCS.read_text().split("### Provably fair computer rounds", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    # three lines of code (ruff formats the docs' Python blocks: blank lines around the def)
    assert len([line for line in code.splitlines() if line.strip()]) == 3
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - our own documentation's snippet
    return scope["verify"]


def tamper(text: str) -> str:
    return ("1" if text[0] != "1" else "2") + text[1:]


def test_every_round_opens_its_commitment_and_a_tampered_salt_does_not(pool):
    verify = documented_verify()
    ada = pool.join("Ada")
    assert ada.call("find_match", {"best_of": 5, "opponent": "computer"}) == {"ok": True}
    game_id = ada.wait_for("match_found")["game_id"]
    checked = 0
    for number in range(1, 30):
        started = ada.wait_for("round_started", lambda r, n=number: r["round"] == n)
        assert "salt" not in started
        assert ada.call("throw", {"game_id": game_id, "move": "paper"})["ok"]
        result = ada.wait_for("round_result", lambda r, n=number: r["round"] == n)
        move, salt = result["moves"]["Computer"], result["salt"]
        assert verify(started["commit"], move, salt) is True
        assert verify(started["commit"], move, tamper(salt)) is False
        others = [m for m in ("rock", "paper", "scissors") if m != move]
        assert not any(verify(started["commit"], other, salt) for other in others)
        checked += 1
        if max(result["score"].values()) == 3:  # best of 5: game_over follows
            break
    over = ada.wait_for("game_over")
    assert over["game_id"] == game_id and checked >= 3
    [game] = ada.call("my_games", {})["games"]
    assert game["verified"] is True and len(game["rounds"]) == checked
    assert all(verify(r["commit"], r["moves"]["Computer"], r["salt"]) for r in game["rounds"])
