"""Replies through the handlers (issue 25, point 3): `message {msg, reply_to}` and
`dm {to, text, reply_to}` carry a quote of the message answered, live, in the history, in
replays; once that message is deleted the quote says so."""

from __future__ import annotations

import pytest

from rpschat.composition import open_storage
from rpschat.domain.errors import Code
from rpschat.domain.ports import LOBBY
from rpschat.domain.replies import QUOTE_CHARS
from rpschat.runtime import ThreadingRuntime
from tests.support.refusals import refused
from tests.unit.conftest import events
from tests.unit.test_names import CHEAP

GONE = refused("The message you reply to is gone.", Code.NO_SUCH_MESSAGE)


def call(client, event, payload):
    return client.emit(event, payload, callback=True)


@pytest.fixture
def harness(harness_factory):
    return harness_factory(resume_grace_seconds=5.0, **CHEAP)


def test_a_reply_quotes_its_message_live_in_the_history_and_once_deleted(harness):
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    long = "x" * (QUOTE_CHARS + 10)
    question = call(ada, "message", {"msg": long})
    bea.get_received()
    answer = call(bea, "message", {"msg": "yes", "reply_to": question["id"]})
    assert answer["ok"]
    quote = {"id": question["id"], "name": "Ada", "txt": "x" * (QUOTE_CHARS - 1) + "…"}
    [live] = [m for m in events(ada, "message") if m.get("id") == answer["id"]]
    assert live["reply_to"] == quote and live["txt"] == "yes"
    assert call(ada, "history", {})["messages"][-1]["reply_to"] == quote
    assert "reply_to" not in call(ada, "history", {})["messages"][0]
    # the quote follows an edit, and says so once the message is deleted
    call(ada, "edit_message", {"id": question["id"], "text": "edited question"})
    assert call(bea, "history", {})["messages"][-1]["reply_to"]["txt"] == "edited question"
    harness.drop(ada)
    back = harness.client(auth={"token": ada_ack["token"], "last_id": question["id"]})
    replayed = [m for m in events(back, "message") if m["id"] == answer["id"]]
    assert replayed[0]["reply_to"]["txt"] == "edited question"
    assert call(back, "delete_message", {"id": question["id"]})["ok"]
    gone = {"id": question["id"], "deleted": True}
    assert call(bea, "history", {})["messages"][0]["reply_to"] == gone
    assert call(bea, "message", {"msg": "late", "reply_to": question["id"]}) == GONE


def test_a_reply_must_answer_a_lobby_message(harness):
    ada, _ = harness.join("Ada")
    stored, _ = harness.services.storage.history.append("game:x", "u", "Ada", "gg")
    assert call(ada, "message", {"msg": "re", "reply_to": stored.id}) == GONE
    assert call(ada, "message", {"msg": "re", "reply_to": 0})["field"] == "reply_to"
    assert call(ada, "message", {"msg": "re", "reply_to": "1"})["field"] == "reply_to"
    assert call(ada, "history", {})["messages"] == []


def test_a_dm_reply_quotes_a_dm_of_the_same_two(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    first = call(ada, "dm", {"to": "Bea", "text": "lunch?"})
    other = call(cyd, "dm", {"to": "Ada", "text": "not bea's"})
    assert call(bea, "dm", {"to": "Ada", "text": "x", "reply_to": other["id"]}) == GONE
    bea.get_received()
    answer = call(bea, "dm", {"to": "Ada", "text": "sure", "reply_to": first["id"]})
    quote = {"id": first["id"], "from": "Ada", "text": "lunch?"}
    assert [m["reply_to"] for m in events(ada, "dm") if m["id"] == answer["id"]] == [quote]
    assert call(ada, "dm_history", {"with": "Bea"})["messages"][-1]["reply_to"] == quote
    call(ada, "delete_message", {"id": first["id"], "dm": True})
    page = call(bea, "dm_history", {"with": "Ada"})["messages"]
    assert page[-1]["reply_to"] == {"id": first["id"], "deleted": True}


def test_the_stores_keep_reply_to_and_fetch_many(storage_url):
    storage = open_storage(storage_url, ThreadingRuntime())
    try:
        first, _ = storage.history.append(LOBBY, "u1", "Ada", "q")
        reply, _ = storage.history.append(LOBBY, "u2", "Bea", "a", reply_to=first.id)
        assert reply.reply_to == first.id and storage.history.get(reply.id).reply_to == first.id
        assert set(storage.history.get_many([first.id, reply.id, 999])) == {first.id, reply.id}
        dm = storage.dms.append("u1", "Ada", "u2", "Bea", "q", None, False)[0]
        answer = storage.dms.append("u2", "Bea", "u1", "Ada", "a", None, False, reply_to=dm.id)[0]
        assert storage.dms.get(answer.id).reply_to == dm.id
        assert set(storage.dms.get_many([dm.id, answer.id, 999])) == {dm.id, answer.id}
    finally:
        storage.close()
