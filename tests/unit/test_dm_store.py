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


def test_unread_until_marked_read_the_ones_delivered_only(store):
    add(store, "b", "a", "seen", unread=False)
    one = add(store, "b", "a", "u1", unread=True)[0]
    add(store, "a", "b", "sent by a", unread=True)
    two = add(store, "c", "a", "u2", unread=True)[0]
    three = add(store, "b", "a", "u3", unread=True)[0]
    assert [m.id for m in store.unread_newest("a", 10)] == [three.id, two.id, one.id]
    assert all(m.unread for m in store.unread_newest("a", 10))
    total, senders = store.unread_senders("a", 10)
    assert total == 3
    assert [(s.sender_id, s.sender, s.count, s.newest_id) for s in senders] == [
        ("b", "B", 2, three.id),
        ("c", "C", 1, two.id),
    ]
    assert [m.id for m in store.unread_newest("a", 10, per_sender=1)] == [three.id, two.id]
    assert [m.id for m in store.unread_newest("a", 10, sender_id="b")] == [three.id, one.id]
    store.mark_read("a", [three.id])
    assert [m.id for m in store.unread_newest("a", 10)] == [two.id, one.id]
    store.mark_read_through("a", two.id)
    assert store.unread_newest("a", 10) == [] and store.unread_senders("a", 10) == (0, [])
    assert len(store.unread_newest("b", 10)) == 1


def test_unread_dms_are_capped_per_recipient_and_per_sender(store):
    from rpschat.domain.ports import UnreadCapReached, UnreadCaps

    caps = UnreadCaps(per_recipient=3, per_sender=2)

    def unread(sender, text, client_id=None):
        return store.append(sender, sender, "a", "A", text, client_id, True, caps)

    unread("b", "1", client_id="c1")
    unread("b", "2")
    with pytest.raises(UnreadCapReached) as refused:
        unread("b", "3")
    assert refused.value.per_sender and refused.value.cap == 2
    assert unread("b", "1 again", client_id="c1")[1] is True  # a resend is answered first
    unread("c", "4")
    with pytest.raises(UnreadCapReached) as refused:
        unread("d", "5")
    assert not refused.value.per_sender and refused.value.cap == 3
    assert store.append("d", "d", "a", "A", "read live", None, False, caps)[1] is False
    store.mark_read_through("a", 10**6)
    unread("b", "once read, room again")


def test_the_sender_of_a_name(store):
    add(store, "g1", "a", "from a guest")
    assert store.sender_named("a", "G1") == "g1"
    assert store.sender_named("a", "g1") is None  # the name as it was shown
    assert store.sender_named("b", "G1") is None


def test_threads_are_newest_first_with_the_users_unread_counts(store):
    add(store, "b", "a", "old from b", unread=True)
    add(store, "a", "c", "to c")
    newest, _ = add(store, "b", "a", "new from b", unread=True)
    add(store, "c", "b", "not a's")
    threads = store.threads("a", 10)
    assert [(t.other_id, t.last.id, t.unread) for t in threads] == [
        ("b", newest.id, 2),
        ("c", threads[1].last.id, 0),
    ]
    assert threads[1].last.text == "to c"
    assert [t.other_id for t in store.threads("a", 1)] == ["b"]
    store.mark_read_from("a", "b", newest.id - 1)  # the older one only
    assert [t.unread for t in store.threads("a", 10)] == [1, 0]
    store.mark_read_from("a", "c", newest.id)  # another sender's: nothing of b's
    assert store.threads("a", 10)[0].unread == 1


def test_dms_survive_a_restart(sql_url):
    storage = open_storage(sql_url, ThreadingRuntime())
    sent, _ = add(storage.dms, "a", "b", "kept", unread=True)
    storage.close()
    storage = open_storage(sql_url, ThreadingRuntime())
    assert storage.dms.unread_newest("b", 10) == [sent]
    storage.close()
