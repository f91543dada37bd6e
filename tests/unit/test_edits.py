"""Editing one's own messages through the handlers (issue 25, point 1): the lobby's and DMs,
live to every page, in the history, and replayed to a resume that missed the edit."""

from __future__ import annotations

import pytest

from rpschat.composition import open_storage
from rpschat.domain.errors import Code
from rpschat.domain.ports import LOBBY
from rpschat.domain.ratelimit import RateSpec
from rpschat.runtime import ThreadingRuntime
from tests.support.refusals import refused
from tests.unit.conftest import HeldClock, events
from tests.unit.test_names import CHEAP


def call(client, event, payload):
    return client.emit(event, payload, callback=True)


@pytest.fixture
def harness(harness_factory):
    return harness_factory(**CHEAP)


def test_an_edit_reaches_every_page_and_the_history(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    sent = call(ada, "message", {"msg": "helo"})
    bea.get_received()
    ack = call(ada, "edit_message", {"id": sent["id"], "text": "hello"})
    assert ack["ok"] and ack["id"] == sent["id"] and ack["seq"] >= 1
    assert ack["edited_at"] >= sent["ts"]
    edited = {"id": sent["id"], "txt": "hello", "edited_at": ack["edited_at"], "seq": ack["seq"]}
    assert events(bea, "message_edited") == [edited]
    assert events(ada, "message_edited") == [edited]  # the author's other tabs too
    page = call(bea, "history", {})["messages"]
    assert page[-1] == {
        "id": sent["id"], "name": "Ada", "txt": "hello", "ts": sent["ts"],
        "edited_at": ack["edited_at"],
    }  # fmt: skip


def test_only_the_author_edits(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    sent = call(ada, "message", {"msg": "mine"})
    assert call(bea, "edit_message", {"id": sent["id"], "text": "yours"}) == refused(
        "You can only change your own messages.", Code.NOT_YOUR_MESSAGE
    )
    assert call(bea, "edit_message", {"id": 999, "text": "x"}) == refused(
        "No such message.", Code.NO_SUCH_MESSAGE
    )
    assert call(bea, "history", {})["messages"][-1]["txt"] == "mine"


def test_the_same_rules_as_a_new_message(harness_factory):
    harness = harness_factory(max_message_chars=10, **CHEAP)
    ada, _ = harness.join("Ada")
    sent = call(ada, "message", {"msg": "short"})
    edit = {"id": sent["id"]}
    assert call(ada, "edit_message", {**edit, "text": " "}) == refused(
        "A message can't be empty.", Code.BAD_MESSAGE
    )
    assert call(ada, "edit_message", {**edit, "text": "x" * 11}) == refused(
        "A message can be at most 10 characters.", Code.BAD_MESSAGE
    )
    assert call(ada, "edit_message", {**edit, "text": 5})["code"] == Code.BAD_REQUEST
    assert call(ada, "edit_message", {"text": "x"})["field"] == "id"
    assert call(ada, "edit_message", {**edit, "text": "x", "dm": "yes"})["field"] == "dm"


def test_a_muted_user_cannot_edit(harness):
    mod = harness.moderator("Mod")
    bea, _ = harness.join("Bea")
    sent = call(bea, "message", {"msg": "before"})
    assert call(mod, "mod_mute", {"name": "Bea", "minutes": 5})["ok"]
    ack = call(bea, "edit_message", {"id": sent["id"], "text": "after"})
    assert ack["ok"] is False and ack["code"] == Code.MUTED
    assert call(bea, "history", {})["messages"][-1]["txt"] == "before"


def test_edits_share_the_chat_rate_limit(harness_factory):
    harness = harness_factory(chat_rate=RateSpec(2, 60.0), **CHEAP)
    ada, _ = harness.join("Ada")
    sent = call(ada, "message", {"msg": "one"})
    assert call(ada, "edit_message", {"id": sent["id"], "text": "two"})["ok"]
    ack = call(ada, "edit_message", {"id": sent["id"], "text": "three"})
    assert ack["code"] == Code.RATE_LIMITED


def test_no_edit_after_the_window(harness_factory):
    harness = harness_factory(edit_window_seconds=60, **CHEAP)
    clock = HeldClock(harness.services.runtime)
    ada, _ = harness.join("Ada")
    sent = call(ada, "message", {"msg": "old"})
    clock.advance(59)
    assert call(ada, "edit_message", {"id": sent["id"], "text": "in time"})["ok"]
    clock.advance(2)
    assert call(ada, "edit_message", {"id": sent["id"], "text": "late"}) == refused(
        "A message can only be edited in the 1 minute after it was sent.",
        Code.EDIT_WINDOW_CLOSED,
    )


def test_game_chat_is_not_a_lobby_message(harness):
    ada, _ = harness.join("Ada")
    stored, _ = harness.services.storage.history.append("game:x", "u", "Ada", "gg")
    assert call(ada, "edit_message", {"id": stored.id, "text": "x"})["code"] == (
        Code.NO_SUCH_MESSAGE
    )


def test_a_dm_edit_reaches_both_sides_and_their_history(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    sent = call(ada, "dm", {"to": "Bea", "text": "hi bea"})
    bea.get_received()
    assert call(bea, "edit_message", {"id": sent["id"], "text": "x", "dm": True}) == refused(
        "You can only change your own messages.", Code.NOT_YOUR_MESSAGE
    )
    ack = call(ada, "edit_message", {"id": sent["id"], "text": "hi Bea", "dm": True})
    assert ack["ok"]
    wire = {"id": sent["id"], "from": "Ada", "to": "Bea", "text": "hi Bea",
            "edited_at": ack["edited_at"], "seq": ack["seq"]}  # fmt: skip
    assert events(bea, "dm_edited") == [wire]
    assert events(ada, "dm_edited") == [wire]
    assert events(cyd, "dm_edited") == []
    page = call(bea, "dm_history", {"with": "Ada"})["messages"]
    assert page[-1]["text"] == "hi Bea" and page[-1]["edited_at"] == ack["edited_at"]
    # a lobby id is not a DM id: the flag says which sequence
    assert call(ada, "edit_message", {"id": sent["id"], "text": "x"})["code"] in (
        Code.NO_SUCH_MESSAGE, Code.NOT_YOUR_MESSAGE,
    )  # fmt: skip


def test_a_resume_gets_the_edits_it_missed(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0, **CHEAP)
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    lobby = call(bea, "message", {"msg": "lobby typo"})
    direct = call(bea, "dm", {"to": "Ada", "text": "dm typo"})
    cyd = harness.client()
    cyd_token = call(cyd, "set_username", {"username": "Cyd"})["token"]
    assert events(cyd, "history")[0]["last_change"] == 0  # none yet: where a client starts
    seen_change = call(bea, "edit_message", {"id": lobby["id"], "text": "lobby fixed?"})["seq"]
    ada.get_received()
    harness.drop(ada)
    call(bea, "edit_message", {"id": lobby["id"], "text": "lobby fixed"})
    last = call(bea, "edit_message", {"id": direct["id"], "text": "dm fixed", "dm": True})
    auth = {"token": ada_ack["token"], "last_id": lobby["id"], "dm_last_id": direct["id"],
            "last_change": seen_change}  # fmt: skip
    back = harness.client(auth=auth)
    got = back.get_received()
    edited = [r["args"][0] for r in got if r["name"] == "message_edited"]
    assert [(e["id"], e["txt"], e["replayed"]) for e in edited] == [
        (lobby["id"], "lobby fixed", True)
    ]
    dm_edited = [r["args"][0] for r in got if r["name"] == "dm_edited"]
    assert [(e["id"], e["text"], e["seq"]) for e in dm_edited] == [
        (direct["id"], "dm fixed", last["seq"])
    ]
    # a resume without last_change is sent none (it reloads the history)
    harness.drop(back)
    again = harness.client(auth={"token": ada_ack["token"], "last_id": lobby["id"]})
    assert events(again, "message_edited") == []
    # another user's DM edits are never replayed to a third one; the lobby's are
    harness.drop(cyd)
    cyd_back = harness.client(auth={"token": cyd_token, "last_id": 0, "last_change": 0})
    got = cyd_back.get_received()
    assert [r["args"][0]["id"] for r in got if r["name"] == "message_edited"] == [lobby["id"]]
    assert [r for r in got if r["name"] == "dm_edited"] == []


def _store(url):
    return open_storage(url, ThreadingRuntime())


def test_the_stores_keep_the_edit_and_number_the_change(storage_url):
    storage = _store(storage_url)
    try:
        message, _ = storage.history.append(LOBBY, "u1", "Ada", "helo")
        other, _ = storage.history.append(LOBBY, "u2", "Bea", "untouched")
        dm = storage.dms.append("u1", "Ada", "u2", "Bea", "hi", None, False)[0]
        assert storage.changes.last_seq() == 0
        revised = storage.history.edit(message.id, "hello", 1234)
        assert revised is not None and revised.message.text == "hello"
        assert storage.history.get(message.id).edited_at == 1234
        assert storage.history.get(other.id).edited_at is None
        assert storage.history.page(LOBBY)[0][0].text == "hello"
        revised_dm = storage.dms.edit(dm.id, "hi!", 1300)
        assert revised_dm is not None and revised_dm.seq > revised.seq
        assert storage.dms.get(dm.id).text == "hi!"
        assert storage.dms.conversation("u1", "u2")[0][0].edited_at == 1300
        assert storage.history.edit(10_000, "x", 1) is None
        assert storage.dms.edit(10_000, "x", 1) is None
        assert storage.changes.last_seq() == revised_dm.seq
        seen = [(c.kind, c.message_id, c.dm) for c in storage.changes.changes_after("u2", 0, 9)]
        assert seen == [("edit", message.id, False), ("edit", dm.id, True)]
        assert [c.dm for c in storage.changes.changes_after("u3", 0, 9)] == [False]
        assert storage.changes.changes_after("u1", revised.seq, 9)[0].seq == revised_dm.seq
    finally:
        storage.close()


# ---- delete_message (issue 25, point 2) ----------------------------------------------------


def test_a_delete_goes_from_every_page_and_the_history(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    kept = call(ada, "message", {"msg": "kept"})
    sent = call(ada, "message", {"msg": "oops"})
    bea.get_received()
    assert call(bea, "delete_message", {"id": sent["id"]}) == refused(
        "You can only change your own messages.", Code.NOT_YOUR_MESSAGE
    )
    ack = call(ada, "delete_message", {"id": sent["id"]})
    assert ack["ok"] and ack["seq"] >= 1
    assert events(bea, "message_deleted") == [{"id": sent["id"], "seq": ack["seq"]}]
    assert [m["id"] for m in call(bea, "history", {})["messages"]] == [kept["id"]]
    assert call(ada, "delete_message", {"id": sent["id"]}) == refused(
        "No such message.", Code.NO_SUCH_MESSAGE
    )
    assert call(ada, "edit_message", {"id": sent["id"], "text": "x"})["code"] == (
        Code.NO_SUCH_MESSAGE
    )
    assert call(ada, "delete_message", {"id": "1"})["field"] == "id"


def test_a_dm_delete_is_gone_for_both_sides(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    sent = call(ada, "dm", {"to": "Bea", "text": "regret"})
    bea.get_received()
    cyd.get_received()
    assert call(bea, "delete_message", {"id": sent["id"], "dm": True})["code"] == (
        Code.NOT_YOUR_MESSAGE
    )
    ack = call(ada, "delete_message", {"id": sent["id"], "dm": True})
    assert events(bea, "dm_deleted") == [{"id": sent["id"], "seq": ack["seq"]}]
    assert events(ada, "dm_deleted") == [{"id": sent["id"], "seq": ack["seq"]}]
    assert events(cyd, "dm_deleted") == []
    assert call(bea, "dm_history", {"with": "Ada"})["messages"] == []
    assert call(ada, "dm_history", {"with": "Bea"})["messages"] == []


def test_a_resume_learns_of_the_deletes_it_missed_the_moderators_too(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0, **CHEAP)
    mod = harness.moderator("Mod")
    ada = harness.client()
    ada_ack = call(ada, "set_username", {"username": "Ada"})
    last_change = events(ada, "history")[0]["last_change"]
    bea, _ = harness.join("Bea")
    own = call(bea, "message", {"msg": "taken back"})
    spam = call(bea, "message", {"msg": "spam"})
    edited = call(bea, "message", {"msg": "edited then deleted"})
    direct = call(bea, "dm", {"to": "Ada", "text": "dm taken back"})
    harness.drop(ada)
    call(bea, "edit_message", {"id": edited["id"], "text": "edited"})
    assert call(bea, "delete_message", {"id": edited["id"]})["ok"]
    assert call(bea, "delete_message", {"id": own["id"]})["ok"]
    assert call(mod, "mod_delete", {"id": spam["id"]}) == {"ok": True}
    dm_ack = call(bea, "delete_message", {"id": direct["id"], "dm": True})
    auth = {"token": ada_ack["token"], "last_id": direct["id"] + 10,
            "dm_last_id": direct["id"], "last_change": last_change}  # fmt: skip
    back = harness.client(auth=auth)
    got = [(r["name"], r["args"][0]) for r in back.get_received()]
    deleted = [p["id"] for e, p in got if e == "message_deleted"]
    assert deleted == [edited["id"], own["id"], spam["id"]]  # in the order of their deletes
    assert [p for e, p in got if e == "message_edited"] == []  # its latest change: the delete
    assert [p for e, p in got if e == "dm_deleted"] == [
        {"id": direct["id"], "seq": dm_ack["seq"], "replayed": True}
    ]


def test_the_stores_delete_and_number_the_change(storage_url):
    storage = _store(storage_url)
    try:
        message, _ = storage.history.append(LOBBY, "u1", "Ada", "gone")
        kept, _ = storage.history.append(LOBBY, "u1", "Ada", "kept")
        first = storage.dms.append("u1", "Ada", "u2", "Bea", "one", "c1", True)[0]
        second = storage.dms.append("u2", "Bea", "u1", "Ada", "two", None, False)[0]
        gone = storage.history.delete(message.id)
        assert gone is not None and gone.message.text == "gone" and gone.seq == 1
        assert storage.history.delete(message.id) is None
        assert [m.id for m in storage.history.page(LOBBY)[0]] == [kept.id]
        gone_dm = storage.dms.delete(first.id, 5)
        assert gone_dm is not None and gone_dm.seq == 2
        assert storage.dms.get(first.id) is None and storage.dms.delete(first.id, 6) is None
        assert [m.id for m in storage.dms.since("u1", 0, 10)] == [second.id]
        assert [m.id for m in storage.dms.conversation("u1", "u2")[0]] == [second.id]
        assert storage.dms.unread_senders("u2", 10) == (0, [])
        later = storage.dms.append("u1", "Ada", "u2", "Bea", "three", None, False)[0]
        assert later.id > second.id  # ids are never reused
        kinds = [(c.kind, c.dm) for c in storage.changes.changes_after("u2", 0, 9)]
        assert kinds == [("delete", False), ("delete", True)]
    finally:
        storage.close()


def test_changes_of_a_dm_hidden_by_an_ignore_reach_only_its_sender(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0, **CHEAP)
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    assert call(ada, "ignore", {"name": "Bea"})["ok"]
    hidden = call(bea, "dm", {"to": "Ada", "text": "you ignore me"})
    ada.get_received()
    harness.drop(ada)
    edited = call(bea, "edit_message", {"id": hidden["id"], "text": "still ignored", "dm": True})
    assert edited["ok"] and events(bea, "dm_edited")[0]["text"] == "still ignored"
    back = harness.client(auth={"token": ada_ack["token"], "last_id": 0, "last_change": 0})
    assert events(back, "dm_edited") == []
