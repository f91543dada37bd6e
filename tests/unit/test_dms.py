"""Direct messages through the test client: docs/protocol.md, "Direct messages"."""

from __future__ import annotations

import pytest

from rpschat.domain.errors import Code
from tests.support.refusals import refused
from tests.unit.conftest import Harness, events, received

# Every test here runs with the shared state in memory and in Redis (tests/unit/conftest.py).
SHARED_STATES = ("memory", "redis")
PASSWORD = "correct horse"
NUL_REFUSAL = "A message can't contain NUL or lone surrogate characters."
CLIENT_ID_REFUSAL = "client_id must be a string of 1 to 64 characters."
BEFORE_REFUSAL = "before must be a whole number from 0 to 9223372036854775807."


def send(client, to: str, text: str, **extra) -> dict:
    return client.emit("dm", {"to": to, "text": text, **extra}, callback=True)


def claimed(harness: Harness, name: str):
    client, ack = harness.join(name)
    assert client.emit("claim_name", {"password": PASSWORD}, callback=True)["ok"]
    return client, ack


def log_in(harness: Harness, name: str):
    client = harness.client()
    ack = client.emit("set_username", {"username": name, "password": PASSWORD}, callback=True)
    assert ack["ok"], ack
    return client, ack


@pytest.fixture
def harness(harness_factory):
    return harness_factory(password_hash_kib=64)


def test_a_dm_reaches_the_recipient_and_the_senders_other_connections(harness):
    ada, _ = claimed(harness, "Ada")
    ada_phone, _ = log_in(harness, "Ada")
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    for client in (ada, ada_phone, cyd):
        client.get_received()
    ack = send(bea, "ada", "hi Ada")  # names are case-insensitive
    assert ack["ok"] and isinstance(ack["id"], int) and isinstance(ack["ts"], int)
    wire = {"id": ack["id"], "from": "Bea", "to": "Ada", "text": "hi Ada", "ts": ack["ts"]}
    assert events(ada, "dm") == [wire] and events(ada_phone, "dm") == [wire]
    assert events(bea, "dm") == []  # not back to the connection that sent it
    assert events(cyd, "dm") == []  # nobody else
    answer = send(ada, "Bea", "hello Bea")
    assert events(ada_phone, "dm")[0]["text"] == "hello Bea"  # the sender's other connection
    assert events(bea, "dm")[0]["id"] == answer["id"] > ack["id"]


def test_a_resend_with_the_same_client_id_is_stored_and_delivered_once(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    first = send(ada, "Bea", "once", client_id="c1")
    again = send(ada, "Bea", "twice?", client_id="c1")
    assert again == {**first, "duplicate": True}
    assert [m["text"] for m in events(bea, "dm")] == ["once"]
    history = bea.emit("dm_history", {"with": "Ada"}, callback=True)
    assert [m["text"] for m in history["messages"]] == ["once"]


@pytest.mark.parametrize(
    "payload, reason",
    [
        ("hi", 'Send an object like {to: "Bea", text: "hello"}.'),
        ({"text": "hi"}, 'Send an object like {to: "Bea", text: "hello"}.'),
        ({"to": "  ", "text": "hi"}, 'Send an object like {to: "Bea", text: "hello"}.'),
        ({"to": 5, "text": "hi"}, 'Send an object like {to: "Bea", text: "hello"}.'),
        ({"to": "Bea"}, "A message must be a string."),
        ({"to": "Bea", "text": " "}, "A message can't be empty."),
        ({"to": "Bea", "text": "x" * 2001}, "A message can be at most 2000 characters."),
        ({"to": "Bea", "text": "a\x00"}, NUL_REFUSAL),
        ({"to": "Bea", "text": "hi", "client_id": ""}, CLIENT_ID_REFUSAL),
        ({"to": "Zed", "text": "hi"}, "Zed is not online."),
        ({"to": "Z" * 40, "text": "hi"}, f"{'Z' * 32} is not online."),
        ({"to": "Ada", "text": "hi"}, "You can't send a direct message to yourself."),
    ],
)  # fmt: skip
def test_bad_dms_are_refused(harness, payload, reason):
    ada, _ = harness.join("Ada")
    harness.join("Bea")
    assert ada.emit("dm", payload, callback=True) == refused(reason)


def test_a_dm_needs_a_name(harness):
    client = harness.client()
    assert send(client, "Bea", "hi") == refused("Pick a name before you chat.", Code.NAME_REQUIRED)


def test_a_dm_to_an_unclaimed_name_that_left_is_refused(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    bea.disconnect()
    assert send(ada, "Bea", "are you there?") == refused("Bea is not online.", Code.NOT_ONLINE)


def test_dms_share_the_chat_rate_limit(harness_factory):
    from rpschat.domain.ratelimit import RateSpec

    harness = harness_factory(chat_rate=RateSpec(3, 60.0))
    ada, _ = harness.join("Ada")
    harness.join("Bea")
    assert ada.emit("message", {"msg": "lobby"}, callback=True)["ok"]
    assert send(ada, "Bea", "1")["ok"] and send(ada, "Bea", "2")["ok"]
    assert send(ada, "Bea", "3")["error"].startswith("You are sending too fast")


def test_an_offline_claimed_name_gets_its_dms_unread_at_its_next_log_in(harness):
    ada, _ = claimed(harness, "Ada")
    ada.disconnect()
    bea, _ = harness.join("Bea")
    first = send(bea, "Ada", "first")
    second = send(bea, "ada", "second")
    assert first["ok"] and second["ok"]
    back, _ = log_in(harness, "Ada")
    got = received(back)
    unread = [data for name, data in got if name == "dm"]
    assert [(m["id"], m["text"], m.get("unread")) for m in unread] == [
        (second["id"], "second", True),  # newest first
        (first["id"], "first", True),
    ]
    summary = {"unread": 2, "delivered": 2, "senders": [{"name": "Bea", "unread": 2}]}
    assert [data for name, data in got if name == "dm_unread_summary"] == [summary]
    back.disconnect()
    again, _ = log_in(harness, "Ada")
    assert events(again, "dm") == []  # delivered once


def test_a_resume_replays_the_dms_after_dm_last_id_exactly_once(harness):
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    seen = send(bea, "Ada", "seen")
    harness.drop(ada)
    missed = [send(bea, "Ada", f"missed {n}")["id"] for n in range(3)]
    back = harness.client(auth={"token": ada_ack["token"], "dm_last_id": seen["id"]})
    replayed = events(back, "dm")
    assert [m["id"] for m in replayed] == missed
    assert all(m["replayed"] is True for m in replayed)
    live = send(bea, "Ada", "live")
    assert [m["id"] for m in events(back, "dm")] == [live["id"]]  # live, once


def test_a_resume_replays_the_dms_the_user_sent_too(harness):
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    sent = send(ada, "Bea", "from Ada")
    harness.drop(ada)
    back = harness.client(auth={"token": ada_ack["token"], "dm_last_id": sent["id"] - 1})
    [replayed] = events(back, "dm")
    assert replayed["from"] == "Ada" and replayed["id"] == sent["id"]


def test_a_resume_without_dm_last_id_gets_the_dms_sent_while_disconnected_as_unread(harness):
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    harness.drop(ada)
    sent = send(bea, "Ada", "while away")  # Ada is in her grace period: still Ada
    assert sent["ok"]
    back = harness.client(auth={"token": ada_ack["token"]})
    [unread] = events(back, "dm")
    assert unread["id"] == sent["id"] and unread["unread"] is True


@pytest.mark.parametrize("dm_last_id", [-1, 2**63, "7", 2.0, True, [1]])
def test_a_bad_dm_last_id_is_refused_before_anything_is_taken(harness, dm_last_id):
    _, ada_ack = harness.join("Ada")
    connections = harness.services.connections
    before = dict(connections.connections)
    client = harness.client(auth={"token": ada_ack["token"], "dm_last_id": dm_last_id})
    assert not client.is_connected()
    assert connections.connections == before


def test_dm_history_pages_newest_first_and_only_the_callers_conversation(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    ids = []
    for n in range(5):
        sender, to = (ada, "Bea") if n % 2 == 0 else (bea, "Ada")
        ids.append(send(sender, to, f"m{n}")["id"])
    send(cyd, "Ada", "to Ada from Cyd")
    page = ada.emit("dm_history", {"with": "bea", "limit": 2}, callback=True)
    assert [m["id"] for m in page["messages"]] == ids[3:] and page["has_more"]
    older = ada.emit("dm_history", {"with": "Bea", "before": ids[3]}, callback=True)
    assert [m["text"] for m in older["messages"]] == ["m0", "m1", "m2"]
    assert older["has_more"] is False
    assert older["messages"][0] == {"id": ids[0], "from": "Ada", "to": "Bea", "text": "m0",
                                    "ts": older["messages"][0]["ts"]}  # fmt: skip
    # Cyd reads only Cyd's: there is nothing between Cyd and Bea
    assert cyd.emit("dm_history", {"with": "Bea"}, callback=True) == {
        "ok": True, "messages": [], "has_more": False,
    }  # fmt: skip
    [mine] = cyd.emit("dm_history", {"with": "Ada"}, callback=True)["messages"]
    assert mine["text"] == "to Ada from Cyd"


@pytest.mark.parametrize(
    "payload, reason",
    [
        ([], 'Send an object like {with: "Bea", before: 42, limit: 50}.'),
        ({}, 'Send an object like {with: "Bea", before: 42, limit: 50}.'),
        ({"with": "Bea", "limit": 0}, "limit must be a whole number from 1 to 200."),
        ({"with": "Bea", "limit": 201}, "limit must be a whole number from 1 to 200."),
        ({"with": "Bea", "before": -3}, BEFORE_REFUSAL),
        ({"with": "Nobody"}, "Nobody is not online."),
    ],
)  # fmt: skip
def test_bad_dm_history_requests_are_refused(harness, payload, reason):
    ada, _ = harness.join("Ada")
    harness.join("Bea")
    assert ada.emit("dm_history", payload, callback=True) == refused(reason)


def test_a_dm_to_someone_who_ignores_the_sender_is_acked_but_never_shown_to_them(harness):
    """Issue 23: the sender is not told it is ignored ("Bea does not take your messages"
    said so); the DM is kept for the sender only."""
    ada, _ = claimed(harness, "Ada")
    ada_phone, _ = log_in(harness, "Ada")
    bea, _ = claimed(harness, "Bea")
    assert bea.emit("ignore", {"name": "Ada"}, callback=True)["ok"]
    for client in (ada, ada_phone, bea):
        client.get_received()
    hidden = send(ada, "Bea", "hi")
    assert hidden["ok"] and isinstance(hidden["id"], int)  # as any DM's ack
    assert events(bea, "dm") == []
    assert [m["text"] for m in events(ada_phone, "dm")] == ["hi"]  # the sender's own devices
    history = bea.emit("dm_history", {"with": "Ada"}, callback=True)
    assert history["ok"] and history["messages"] == []
    listed = bea.emit("dm_conversations", {}, callback=True)
    assert listed == {"ok": True, "conversations": [], "unread": 0}
    mine = ada.emit("dm_history", {"with": "Bea"}, callback=True)["messages"]
    assert [m["text"] for m in mine] == ["hi"]
    bea.disconnect()  # not kept unread either: nothing at Bea's next log-in
    send(ada, "Bea", "while you were away")
    back, _ = log_in(harness, "Bea")
    assert events(back, "dm") == [] and events(back, "dm_unread_summary") == []
    assert send(back, "Ada", "I can still write to you")["ok"]
    assert back.emit("unignore", {"name": "Ada"}, callback=True)["ok"]
    again = send(ada, "Bea", "hi again")
    assert [m["id"] for m in events(back, "dm")] == [again["id"]]


def test_dm_conversations_lists_every_conversation_newest_first_with_unread_counts(harness):
    ada, _ = claimed(harness, "Ada")
    ada.disconnect()
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    assert send(bea, "Ada", "one from Bea")["ok"] and send(bea, "Ada", "two from Bea")["ok"]
    last = send(cyd, "Ada", "one from Cyd")
    bea.disconnect()  # guests who left: their conversations are still listed
    cyd.disconnect()
    back, _ = log_in(harness, "Ada")
    listed = back.emit("dm_conversations", {}, callback=True)
    assert listed["ok"] and listed["unread"] == 0  # the log-in delivered all three
    assert [(c["with"], c["unread"], c["last"]["text"]) for c in listed["conversations"]] == [
        ("Cyd", 0, "one from Cyd"),
        ("Bea", 0, "two from Bea"),
    ]
    assert listed["conversations"][0]["last"]["id"] == last["id"]


def test_dm_conversations_counts_what_is_still_unread_and_dm_read_marks_it(harness_factory):
    harness = harness_factory(password_hash_kib=64, dm_unread_on_login=1)
    ada, _ = claimed(harness, "Ada")
    ada.disconnect()
    bea, _ = harness.join("Bea")
    sent = [send(bea, "Ada", f"m{n}")["id"] for n in range(3)]
    back, _ = log_in(harness, "Ada")  # one (m2) came at the log-in
    other, _ = log_in(harness, "Ada")  # another device: m1 came; m0 is still unread
    listed = back.emit("dm_conversations", {"limit": 5}, callback=True)
    assert listed["unread"] == 1
    assert [(c["with"], c["unread"]) for c in listed["conversations"]] == [("Bea", 1)]
    other.get_received()
    assert back.emit("dm_read", {"with": "bea", "id": sent[1]}, callback=True) == {
        "ok": True,
        "unread": 0,
    }
    assert events(other, "dm_read") == [{"with": "bea", "id": sent[1]}]
    assert back.emit("dm_conversations", {}, callback=True)["conversations"][0]["unread"] == 0


@pytest.mark.parametrize(
    ("event", "payload", "reason"),
    [
        ("dm_conversations", {"limit": 0}, "limit must be a whole number from 1 to 200."),
        ("dm_read", {"id": 3}, 'Send an object like {with: "Bea", id: 42}.'),
        ("dm_read", {"with": "Bea"}, "id must be a whole number from 0 to 9223372036854775807."),
        ("dm_read", {"with": "Nobody", "id": 1}, "Nobody is not online."),
    ],
)
def test_bad_conversation_requests_are_refused(harness, event, payload, reason):
    ada, _ = harness.join("Ada")
    harness.join("Bea")
    assert ada.emit(event, payload, callback=True)["error"] == reason


def test_a_muted_user_cant_send_dms(harness_factory):
    harness = harness_factory(password_hash_kib=64)
    mod = harness.moderator("Mod")
    ada, _ = harness.join("Ada")
    harness.join("Bea")
    assert mod.emit("mod_mute", {"name": "Ada", "minutes": 5}, callback=True)["ok"]
    assert send(ada, "Bea", "hi")["error"].startswith("You are muted until")


def test_a_guest_who_logs_in_leaves_its_dm_room(harness):
    claimed_ada, _ = claimed(harness, "Ada")
    claimed_ada.disconnect()
    guest, _ = harness.join("Gus")
    bea, _ = harness.join("Bea")
    ack = guest.emit("set_username", {"username": "Ada", "password": PASSWORD}, callback=True)
    assert ack["ok"]
    guest.get_received()
    assert send(bea, "Ada", "to Ada")["ok"]
    assert [m["text"] for m in events(guest, "dm")] == ["to Ada"]


def test_a_dm_to_a_look_alike_of_a_claimed_name_online_is_delivered_not_kept_unread(harness):
    ada, _ = claimed(harness, "Ada")
    bea, _ = harness.join("Bea")
    ack = send(bea, "\u0410da", "hi")  # Cyrillic А: the claimed name's look-alike
    assert ack["ok"]
    assert [m["to"] for m in events(ada, "dm")] == ["Ada"]
    ada.disconnect()
    back, _ = log_in(harness, "Ada")
    assert events(back, "dm") == []  # it was delivered: not unread


def test_a_replay_larger_than_one_answer_stops_with_dm_replay_truncated(harness_factory):
    harness = harness_factory(max_backlog_bytes=64 * 1024, chat_rate=None)  # answers: 16 KiB
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    harness.drop(ada)
    sent = [send(bea, "Ada", f"{n} " + "x" * 1900)["id"] for n in range(20)]  # about 40 KiB
    back = harness.client(auth={"token": ada_ack["token"], "dm_last_id": 0})
    got = [(name, payload) for name, payload in received(back) if name.startswith("dm")]
    replayed = [payload["id"] for name, payload in got if name == "dm"]
    assert 1 <= len(replayed) < len(sent) and replayed == sent[: len(replayed)]
    assert got[-1] == ("dm_replay_truncated", {"dm_last_id": replayed[-1]})
    rest = back.emit("dm_history", {"with": "Bea", "limit": 200}, callback=True)
    assert [m["id"] for m in rest["messages"]][-1] == sent[-1]  # the rest is in the history


# ---- any interleaving: every acked DM reaches its recipient once ---------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ACTIONS = st.lists(
    st.sampled_from(["ada->bea", "bea->ada", "drop ada", "resume ada", "resend", "bad"]),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS)
def test_any_interleaving_of_dms_drops_and_resumes_delivers_each_dm_once(actions):
    harness = Harness(chat_rate=None, other_rate=None, resume_grace_seconds=60.0)
    try:
        ada, ada_ack = harness.join("Ada")
        bea, _ = harness.join("Bea")
        ada_seen: list[int] = []  # every dm event Ada's connections got, in order
        to_ada: list[int] = []  # acked DMs to Ada
        ada_online = True
        last_client_id = None
        for n, action in enumerate(actions):
            if ada_online:
                ada_seen += [m["id"] for m in events(ada, "dm")]
            if action == "bea->ada":
                last_client_id = f"c{n}"
                ack = send(bea, "Ada", f"m{n}", client_id=last_client_id)
                assert ack["ok"], ack
                to_ada.append(ack["id"])
            elif action == "ada->bea" and ada_online:
                assert send(ada, "Bea", f"r{n}")["ok"]
            elif action == "drop ada" and ada_online:
                harness.drop(ada)
                ada_online = False
            elif action == "resume ada" and not ada_online:
                cursor = max(ada_seen, default=0)
                ada = harness.client(auth={"token": ada_ack["token"], "dm_last_id": cursor})
                ada_online = True
            elif action == "resend" and last_client_id is not None:
                again = send(bea, "Ada", "again", client_id=last_client_id)
                assert again.get("duplicate") is True
            elif action == "bad":
                assert send(bea, "Ada", "")["ok"] is False
        if not ada_online:
            cursor = max(ada_seen, default=0)
            ada = harness.client(auth={"token": ada_ack["token"], "dm_last_id": cursor})
        ada_seen += [m["id"] for m in events(ada, "dm")]
        received = [i for i in ada_seen if i in set(to_ada)]
        assert received == to_ada  # all of them, once each, in order
    finally:
        harness.close()


# ---- issue 21, items 7 and 13: unread DMs can't be buried, nor pile up --------------------------


def unread_events(client):
    got = received(client)
    return (
        [data for name, data in got if name == "dm"],
        [data for name, data in got if name == "dm_unread_summary"],
    )


def test_junk_dms_do_not_bury_a_friends_and_nothing_undelivered_is_marked_read(harness_factory):
    """Before: the oldest unread came first, as many as fit, and every unread DM was marked
    read: 160 junk DMs then a friend's, and the friend's was never shown."""
    harness = harness_factory(password_hash_kib=64, dm_unread_on_login=20, chat_rate=None)
    ada, _ = claimed(harness, "Ada")
    ada.disconnect()
    friend, _ = harness.join("Friend")
    spammers = [harness.join(f"Spam{n}")[0] for n in range(3)]
    junk = [send(spammer, "Ada", f"junk {i}")["id"] for spammer in spammers for i in range(20)]
    kept = send(friend, "Ada", "lunch at one?")
    more_junk = [send(spammers[0], "Ada", f"late junk {i}")["id"] for i in range(10)]
    back, _ = log_in(harness, "Ada")
    delivered, [summary] = unread_events(back)
    assert kept["id"] in [m["id"] for m in delivered]
    assert len(delivered) == 20 and [m["id"] for m in delivered] == sorted(
        (m["id"] for m in delivered), reverse=True
    )  # newest first
    assert summary["unread"] == 71 and summary["delivered"] == 20
    assert {s["name"]: s["unread"] for s in summary["senders"]} == {
        "Spam0": 30, "Spam1": 20, "Spam2": 20, "Friend": 1,
    }  # fmt: skip
    seen = {m["id"] for m in delivered}
    while True:  # the rest, page by page: none lost, none twice
        page = back.emit("dm_unread", {"limit": 25}, callback=True)
        assert page["ok"] and not seen & {m["id"] for m in page["messages"]}
        seen |= {m["id"] for m in page["messages"]}
        if not page["messages"]:
            break
    assert page["unread"] == 0 and seen == {*junk, *more_junk, kept["id"]}


def test_unread_dms_left_at_a_log_in_come_at_the_next_one(harness_factory):
    harness = harness_factory(password_hash_kib=64, dm_unread_on_login=2, chat_rate=None)
    ada, _ = claimed(harness, "Ada")
    ada.disconnect()
    bea, _ = harness.join("Bea")
    ids = [send(bea, "Ada", f"m{i}")["id"] for i in range(3)]
    first, _ = log_in(harness, "Ada")
    assert [m["id"] for m in unread_events(first)[0]] == [ids[2], ids[1]]
    first.disconnect()
    second, _ = log_in(harness, "Ada")
    delivered, [summary] = unread_events(second)
    assert [m["id"] for m in delivered] == [ids[0]] and summary["unread"] == 1


def test_a_resume_leaves_the_unread_dms_a_log_in_did_not_send_unread(harness_factory):
    """A log-in sends the newest unread DM first: a resume with its id as dm_last_id replays
    nothing and must not mark the older, unsent ones read (issue 23: they were)."""
    harness = harness_factory(password_hash_kib=64, dm_unread_on_login=1)
    ada, _ = claimed(harness, "Ada")
    ada.disconnect()
    bea, _ = harness.join("Bea")
    sent = [send(bea, "Ada", f"m{n}")["id"] for n in range(3)]
    back, ack = log_in(harness, "Ada")
    assert [m["id"] for m in events(back, "dm")] == [sent[2]]
    back.disconnect()
    resumed = harness.client(auth={"token": ack["token"], "dm_last_id": sent[2]})
    assert events(resumed, "dm") == []
    listed = resumed.emit("dm_conversations", {}, callback=True)
    assert listed["unread"] == 2 and listed["conversations"][0]["unread"] == 2


def test_a_replay_cut_short_leaves_the_rest_unread(harness_factory):
    harness = harness_factory(password_hash_kib=64, max_backlog_bytes=64 * 1024, chat_rate=None)
    ada, ada_ack = claimed(harness, "Ada")
    bea, _ = harness.join("Bea")
    harness.drop(ada)  # in her grace period: DMs to her are kept unread
    ids = [send(bea, "Ada", f"{i} " + "x" * 1900)["id"] for i in range(20)]
    back = harness.client(auth={"token": ada_ack["token"], "dm_last_id": 0})
    got = received(back)
    replayed = [data["id"] for name, data in got if name == "dm"]
    [(_, cut)] = [(name, data) for name, data in got if name == "dm_replay_truncated"]
    assert replayed == ids[: len(replayed)] and cut == {"dm_last_id": replayed[-1]}
    other, _ = log_in(harness, "Ada")  # another device, no cursor: the rest, as unread
    delivered, [summary] = unread_events(other)
    assert summary["unread"] == len(ids) - len(replayed)
    assert {m["id"] for m in delivered} <= set(ids[len(replayed) :])


def test_a_dm_to_a_guest_sender_who_left_is_refused_saying_so(harness):
    ada, _ = claimed(harness, "Ada")
    gus, _ = harness.join("Gus")
    bea, _ = claimed(harness, "Bea")
    assert send(gus, "Ada", "hi from a guest")["ok"]
    assert send(bea, "Ada", "hi from a claimed name")["ok"]
    gus.disconnect()
    bea.disconnect()
    assert send(ada, "Gus", "hello?") == refused(
        "Gus was a guest and has left: nobody can send them messages any more.", Code.GUEST_LEFT
    )
    assert send(ada, "Bea", "a claimed name reads it at its next log-in")["ok"]
    assert send(ada, "Nobody", "hi") == refused("Nobody is not online.", Code.NOT_ONLINE)
    page = ada.emit("dm_history", {"with": "Gus"}, callback=True)  # still readable
    assert [m["text"] for m in page["messages"]] == ["hi from a guest"]


def test_unread_dms_are_capped_per_sender_and_per_recipient(harness_factory):
    harness = harness_factory(
        password_hash_kib=64, dm_unread_per_sender=3, dm_unread_max=5, chat_rate=None
    )
    ada, _ = claimed(harness, "Ada")
    ada.disconnect()
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    assert all(send(bea, "Ada", f"b{i}")["ok"] for i in range(3))
    assert send(bea, "Ada", "b3") == refused(
        "Ada has not read your last 3 messages yet: wait until they have.", Code.INBOX_FULL
    )
    assert all(send(cyd, "Ada", f"c{i}")["ok"] for i in range(2))
    assert send(cyd, "Ada", "c2") == refused(
        "Ada has too many unread messages: wait until they have read some.", Code.INBOX_FULL
    )
    back, _ = log_in(harness, "Ada")  # read: room again
    back.disconnect()
    assert send(bea, "Ada", "again")["ok"]
