"""Hostile inputs at the handler level (issue 11): every state change all-or-nothing."""

from __future__ import annotations

import pytest

from rpschat.storage.database import StorageUnavailable
from tests.unit.conftest import events

MAX_ID = 2**63 - 1


class FailingAfter:
    """Wraps a history so that `after` (the resume's replay) fails as a database could."""

    def __init__(self, inner):
        self._inner = inner

    def after(self, *args, **kwargs):
        raise StorageUnavailable()

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_connect_that_fails_half_way_releases_its_slot_and_the_name(harness_factory):
    harness = harness_factory(resume_grace_seconds=0.0, max_connections_per_ip=2)
    chat = harness.services.chat
    ada, ada_ack = harness.join("Ada")
    harness.drop(ada)  # no grace: the name is free again
    chat.history = FailingAfter(chat.history)
    for _ in range(5):
        back = harness.client(auth={"token": ada_ack["token"], "last_id": 0})
        assert not back.is_connected()
    assert chat.connections == {}
    assert chat.connections_from("127.0.0.1") == 0
    assert chat.directory.names() == []  # no ghost Ada
    bea, _ = harness.join("Ada")  # the name is free, the address is not locked out
    assert bea.emit("users", {}, callback=True)["users"] == ["Ada"]


@pytest.mark.parametrize("last_id", [-(2**70), 2**63, -1, "7", 2.0, False, [1]])
def test_a_bad_last_id_is_refused_before_anything_is_taken(harness, last_id):
    _, ada_ack = harness.join("Ada")
    chat = harness.services.chat
    before = dict(chat.connections)
    client = harness.client(auth={"token": ada_ack["token"], "last_id": last_id})
    assert not client.is_connected()
    assert chat.connections == before


@pytest.mark.parametrize(
    "payload", [{"before": 2**63}, {"after": -(2**63) - 1}, {"before": -1}, {"after": 2**100}]
)
def test_history_with_a_cursor_out_of_64_bits_is_refused(harness, payload):
    ada, _ = harness.join("Ada")
    ack = ada.emit("history", payload, callback=True)
    assert ack == {
        "ok": False,
        "error": f"before and after must be whole numbers from 0 to {MAX_ID}.",
    }


def test_history_with_the_largest_cursor_is_served(harness):
    ada, _ = harness.join("Ada")
    ada.emit("message", {"msg": "hi"}, callback=True)
    ack = ada.emit("history", {"before": MAX_ID}, callback=True)
    assert [m["txt"] for m in ack["messages"]] == ["hi"]
    assert events(ada, "error") == []
