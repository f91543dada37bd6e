"""Direct messages (`DmStore`) on every backend."""

from __future__ import annotations

import pytest

from rpschat.composition import open_storage
from rpschat.runtime import ThreadingRuntime


@pytest.fixture
def store(storage_url):
    storage = open_storage(storage_url, ThreadingRuntime())
    yield storage.dms
    storage.close()


def add(store, sender, recipient, text, client_id=None, unread=False):
    return store.append(
        sender, sender.upper(), recipient, recipient.upper(), text, client_id, unread
    )


def test_ids_grow_and_a_client_id_is_stored_once(store):
    first, dup = add(store, "a", "b", "one", client_id="c1")
    second, _ = add(store, "b", "a", "two", client_id="c1")  # another sender's c1
    again, dup_again = add(store, "a", "b", "changed", client_id="c1")
    assert not dup and dup_again and again == first and second.id > first.id
    assert (first.sender, first.recipient, first.text) == ("A", "B", "one")


def test_a_conversation_is_the_two_users_only_newest_page_first(store):
    ids = [add(store, *pair, f"m{n}")[0].id for n, pair in enumerate([("a", "b"), ("b", "a")] * 3)]
    add(store, "a", "c", "other")
    add(store, "c", "b", "other")
    page, more = store.conversation("a", "b", limit=4)
    assert [m.id for m in page] == ids[2:] and more
    older, more = store.conversation("b", "a", before=ids[2])
    assert [m.id for m in older] == ids[:2] and not more


def test_since_has_sent_and_received_in_order(store):
    one = add(store, "a", "b", "1")[0]
    add(store, "c", "d", "not a's")
    two = add(store, "b", "a", "2")[0]
    assert [m.id for m in store.since("a", 0, 10)] == [one.id, two.id]
    assert [m.id for m in store.since("a", one.id, 10)] == [two.id]
    assert [m.id for m in store.since("a", 0, 1)] == [one.id]


def test_unread_until_marked_read(store):
    add(store, "b", "a", "seen", unread=False)
    one = add(store, "b", "a", "u1", unread=True)[0]
    add(store, "a", "b", "sent by a", unread=True)
    two = add(store, "c", "a", "u2", unread=True)[0]
    assert [m.id for m in store.unread("a", 0, 10)] == [one.id, two.id]
    assert all(m.unread for m in store.unread("a", 0, 10))
    store.mark_read("a")
    assert store.unread("a", 0, 10) == []
    assert len(store.unread("b", 0, 10)) == 1


def test_dms_survive_a_restart(sql_url):
    storage = open_storage(sql_url, ThreadingRuntime())
    sent, _ = add(storage.dms, "a", "b", "kept", unread=True)
    storage.close()
    storage = open_storage(sql_url, ThreadingRuntime())
    assert storage.dms.unread("b", 0, 10) == [sent]
    storage.close()
