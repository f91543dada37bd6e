"""Reactions through the handlers (issue 25, point 4): `react {id, emoji, dm?}` toggles; counts
and who reacted go live to every page, and are in the history, DM history and replays."""

from __future__ import annotations

import pytest

from rpschat.composition import open_storage
from rpschat.domain.errors import Code
from rpschat.domain.ports import LOBBY
from rpschat.domain.ratelimit import RateSpec
from rpschat.domain.replies import EMOJI
from rpschat.runtime import ThreadingRuntime
from tests.support.refusals import refused
from tests.unit.conftest import events
from tests.unit.test_names import CHEAP

SHARED_STATES = ("memory", "redis")


def call(client, event, payload):
    return client.emit(event, payload, callback=True)


@pytest.fixture
def harness(harness_factory):
    return harness_factory(resume_grace_seconds=5.0, **CHEAP)


def test_reactions_toggle_live_and_in_the_history(harness):
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    sent = call(ada, "message", {"msg": "gg"})
    thumbs, party = EMOJI[0], EMOJI[4]
    first = call(bea, "react", {"id": sent["id"], "emoji": thumbs})
    assert first["ok"] and first["reactions"] == [{"emoji": thumbs, "count": 1, "names": ["Bea"]}]
    call(cyd, "react", {"id": sent["id"], "emoji": party})
    both = call(cyd, "react", {"id": sent["id"], "emoji": thumbs})
    expected = [
        {"emoji": thumbs, "count": 2, "names": ["Bea", "Cyd"]},
        {"emoji": party, "count": 1, "names": ["Cyd"]},
    ]
    assert both["reactions"] == expected  # in the set's order, names oldest first
    live = events(ada, "reactions")
    assert live[-1] == {"id": sent["id"], "reactions": expected, "seq": both["seq"]}
    assert [e["seq"] for e in live] == sorted(e["seq"] for e in live)
    assert call(ada, "history", {})["messages"][-1]["reactions"] == expected
    undone = call(bea, "react", {"id": sent["id"], "emoji": thumbs})  # a toggle: taken back
    assert undone["reactions"][0] == {"emoji": thumbs, "count": 1, "names": ["Cyd"]}
    # a resume that missed a reaction gets the message's reactions
    harness.drop(ada)
    later = call(bea, "react", {"id": sent["id"], "emoji": party})
    back = harness.client(auth={"token": ada_ack["token"], "last_id": sent["id"],
                                "last_change": undone["seq"]})  # fmt: skip
    assert events(back, "reactions") == [
        {"id": sent["id"], "reactions": later["reactions"], "seq": later["seq"], "replayed": True}
    ]


def test_react_refusals(harness_factory):
    harness = harness_factory(other_rate=RateSpec(3, 60.0), **CHEAP)
    ada, _ = harness.join("Ada")
    sent = call(ada, "message", {"msg": "hi"})
    bad = call(ada, "react", {"id": sent["id"], "emoji": "💩"})
    assert bad["code"] == Code.BAD_REQUEST and bad["field"] == "emoji"
    assert call(ada, "react", {"id": 999, "emoji": EMOJI[0]}) == refused(
        "No such message.", Code.NO_SUCH_MESSAGE
    )
    stored, _ = harness.services.storage.history.append("game:x", "u", "Ada", "gg")
    assert call(ada, "react", {"id": stored.id, "emoji": EMOJI[0]})["code"] == (
        Code.NO_SUCH_MESSAGE
    )
    # the bucket of the events other than chat (3 here): two refused reacts counted
    assert call(ada, "react", {"id": sent["id"], "emoji": EMOJI[0]})["ok"]
    assert call(ada, "react", {"id": sent["id"], "emoji": EMOJI[0]})["code"] == (Code.RATE_LIMITED)


def test_a_muted_user_cannot_react(harness):
    mod = harness.moderator("Mod")
    ada, _ = harness.join("Ada")
    sent = call(mod, "message", {"msg": "hi"})
    assert call(mod, "mod_mute", {"name": "Ada", "minutes": 5})["ok"]
    assert call(ada, "react", {"id": sent["id"], "emoji": EMOJI[0]})["code"] == Code.MUTED


def test_dm_reactions_reach_both_and_only_them(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    sent = call(ada, "dm", {"to": "Bea", "text": "lunch?"})
    assert call(cyd, "react", {"id": sent["id"], "emoji": EMOJI[0], "dm": True})["code"] == (
        Code.NO_SUCH_MESSAGE
    )
    ack = call(bea, "react", {"id": sent["id"], "emoji": EMOJI[0], "dm": True})
    wire = {"id": sent["id"], "reactions": [{"emoji": EMOJI[0], "count": 1, "names": ["Bea"]}],
            "seq": ack["seq"]}  # fmt: skip
    assert events(ada, "dm_reactions") == [wire]
    assert events(bea, "dm_reactions") == [wire]
    assert events(cyd, "dm_reactions") == []
    assert (
        call(ada, "dm_history", {"with": "Bea"})["messages"][-1]["reactions"] == (wire["reactions"])
    )


def test_the_stores_toggle_reactions_and_forget_them_with_the_message(storage_url):
    storage = open_storage(storage_url, ThreadingRuntime())
    try:
        message, _ = storage.history.append(LOBBY, "u1", "Ada", "q")
        one = storage.history.react(message.id, "u2", "Bea", EMOJI[0], 1)
        two = storage.history.react(message.id, "u3", "Cyd", EMOJI[0], 2)
        assert (one.message[0].count, two.message[0].names) == (1, ["Bea", "Cyd"])
        assert two.seq > one.seq
        off = storage.history.react(message.id, "u2", "Bea", EMOJI[0], 3)
        assert [(r.emoji, r.names) for r in off.message] == [(EMOJI[0], ["Cyd"])]
        assert list(storage.history.reactions_of([message.id, 999])) == [message.id]
        assert storage.history.react(999, "u2", "Bea", EMOJI[0], 4) is None
        dm = storage.dms.append("u1", "Ada", "u2", "Bea", "q", None, False)[0]
        assert storage.dms.react(dm.id, "u2", "Bea", EMOJI[1], 5).message[0].names == ["Bea"]
        assert storage.dms.reactions_of([dm.id])[dm.id][0].emoji == EMOJI[1]
        storage.history.delete(message.id)
        storage.dms.delete(dm.id, 6)
        assert storage.history.reactions_of([message.id]) == {}
        assert storage.dms.reactions_of([dm.id]) == {}
        kinds = [c.kind for c in storage.changes.changes_after("u2", 0, 20)]
        assert kinds == ["react", "react", "react", "react", "delete", "delete"]
    finally:
        storage.close()
