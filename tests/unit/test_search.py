"""Search (issue 25, point 5): the same data on memory://, SQLite (FTS5) and PostgreSQL
(tsvector, GIN) gives the same hits; through the handlers, only the lobby and the caller's own
DMs, newest first, paged, never a deleted message nor an ignored user's."""

from __future__ import annotations

import pytest

from rpschat.composition import open_storage
from rpschat.domain.errors import Code
from rpschat.domain.ports import LOBBY, SearchQuery
from rpschat.domain.search import search_text, words
from rpschat.runtime import ThreadingRuntime
from tests.unit.conftest import HeldClock
from tests.unit.test_names import CHEAP

LOBBY_TEXTS = [
    ("u1", "Ada", "Rematch? I play rock every time"),
    ("u2", "Bea", "rematch, sure! Café at 5"),
    ("u1", "Ada", "The café was closed: ROCK-paper-scissors at mine"),
    ("u3", "Cyd", "rocky road ice cream"),
    ("u2", "Bea", "nothing to see: PAPER wins"),
    ("u3", "Cyd", "über-rematch 2026 (rock_paper)"),
]
DMS = [
    ("u1", "Ada", "u2", "Bea", "secret rock plan"),
    ("u2", "Bea", "u1", "Ada", "Rock on"),
    ("u3", "Cyd", "u2", "Bea", "rock for bea only"),
]
QUERIES = [
    SearchQuery(["rock"]),
    SearchQuery(["rematch"]),
    SearchQuery(["café"]),
    SearchQuery(["cafe"]),
    SearchQuery(["paper", "rock"]),
    SearchQuery(["roc"]),
    SearchQuery(["über"]),
    SearchQuery(["2026"]),
    SearchQuery(["rock"], sender_id="u1"),
    SearchQuery([], sender_name="Bea"),
    SearchQuery(["nothere"]),
]


def test_words_are_letters_and_digits_casefolded():
    assert words("ROCK-paper_scissors, Café 2026!") == ["rock", "paper", "scissors", "café", "2026"]
    assert search_text("Ｆｕｌｌ width") == "full width"  # NFKC


@pytest.fixture
def three(tmp_path, postgres_url):
    """One storage of each kind, holding the same messages (a game chat line too)."""
    storages = [
        open_storage(url, ThreadingRuntime())
        for url in ("memory://", f"sqlite:///{tmp_path / 's.db'}", postgres_url)
    ]
    for storage in storages:
        for user_id, name, text in LOBBY_TEXTS:
            storage.history.append(LOBBY, user_id, name, text)
        storage.history.append("game:g", "u1", "Ada", "rock in a game")
        for sender_id, sender, recipient_id, recipient, text in DMS:
            storage.dms.append(sender_id, sender, recipient_id, recipient, text, None, False)
    yield storages
    for storage in storages:
        storage.close()


def hits(storage, query, before=2**63 - 1, limit=10):
    lobby = [m.id for m in storage.history.search(query, before, limit)]
    dms = [m.id for m in storage.dms.search("u2", query, before, limit)]
    return lobby, dms


def test_memory_sqlite_and_postgresql_find_the_same(three):
    memory, sqlite, postgresql = three
    for query in QUERIES:
        expected = hits(memory, query)
        assert hits(sqlite, query) == expected, query
        assert hits(postgresql, query) == expected, query
    # what memory finds is what the rules say (ids 1..6 lobby, 7 game chat; DMs 1..3)
    assert hits(memory, SearchQuery(["rock"])) == ([6, 4, 3, 1], [3, 2, 1])  # rocky: a prefix
    assert hits(memory, SearchQuery(["roc"])) == ([6, 4, 3, 1], [3, 2, 1])
    assert hits(memory, SearchQuery(["café"])) == ([3, 2], [])
    assert hits(memory, SearchQuery(["cafe"])) == ([], [])
    assert hits(memory, SearchQuery(["rock"], sender_id="u1")) == ([3, 1], [1])
    assert hits(memory, SearchQuery([], sender_name="Bea")) == ([5, 2], [2])
    # paging: before an id, at most limit
    for storage in three:
        assert hits(storage, SearchQuery(["rock"]), before=4, limit=1) == ([3], [3])
    # edits and deletes are searched as they are now, on every backend
    for storage in three:
        storage.history.edit(4, "now about paper", 1)
        storage.history.delete(1)
        storage.dms.edit(3, "nothing", 1)
        assert hits(storage, SearchQuery(["rock"])) == ([6, 3], [2, 1])
        assert hits(storage, SearchQuery(["paper"]))[0] == [6, 5, 4, 3]


def call(client, event, payload):
    return client.emit(event, payload, callback=True)


def test_search_through_the_handlers(harness_factory):
    harness = harness_factory(**CHEAP)
    clock = HeldClock(harness.services.runtime)  # lobby and DMs are merged by time
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    one = call(ada, "message", {"msg": "rock one"})
    clock.advance(1)
    dm = call(bea, "dm", {"to": "Ada", "text": "rock in a dm"})
    call(bea, "dm", {"to": "Cyd", "text": "rock not for ada"})
    clock.advance(1)
    two = call(bea, "message", {"msg": "rock two"})
    gone = call(cyd, "message", {"msg": "rock gone"})
    call(cyd, "delete_message", {"id": gone["id"]})
    found = call(ada, "search", {"q": "ROCK"})
    assert found["ok"] and not found["has_more"]
    assert [(h["kind"], h["id"]) for h in found["hits"]] == [
        ("lobby", two["id"]), ("dm", dm["id"]), ("lobby", one["id"]),
    ]  # fmt: skip
    assert found["hits"][1]["from"] == "Bea" and found["hits"][0]["txt"] == "rock two"
    page = call(ada, "search", {"q": "rock", "limit": 2})
    assert page["has_more"] and len(page["hits"]) == 2
    rest = call(ada, "search", {"q": "rock", "limit": 2, "before": page["before"]})
    assert [h["id"] for h in rest["hits"]] == [one["id"]] and not rest["has_more"]
    by_bea = call(ada, "search", {"q": "from:bea"})
    assert [h["id"] for h in by_bea["hits"]] == [two["id"], dm["id"]]
    assert call(ada, "search", {"q": "rock from:Bea"})["hits"] == by_bea["hits"]
    call(ada, "ignore", {"name": "Bea"})
    assert [h["id"] for h in call(ada, "search", {"q": "rock"})["hits"]] == [one["id"]]
    for bad, field in [({"q": "   "}, "q"), ({"q": "x" * 201}, "q"), ({"q": "a", "before": "x"},
                       "before"), ({"q": "a", "limit": 51}, "limit")]:  # fmt: skip
        answer = call(ada, "search", bad)
        assert (answer["code"], answer["field"]) == (Code.BAD_REQUEST, field), bad
