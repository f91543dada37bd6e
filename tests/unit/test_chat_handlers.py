"""The chat's handlers through Flask-SocketIO's test client: the seed protocol and every refusal."""

import pytest

from rpschat.domain.errors import Code
from tests.support.refusals import error_event, refused
from tests.support.waiting import eventually
from tests.unit.conftest import events, received

CLIENT_ID_REFUSAL = "client_id must be a string of 1 to 64 characters."
PASSWORD_REFUSAL = "A password must be a string of 8 to 128 characters."
MAX_ID = 2**63 - 1  # ids are 64-bit

# Every test here runs with the shared state in memory and in Redis (tests/unit/conftest.py).
SHARED_STATES = ("memory", "redis")


# ---- the seed's protocol ---------------------------------------------------------------------


def test_set_username_announces_entry_to_everyone_else(harness):
    ada, _ = harness.join("Ada")
    bea = harness.client()
    ack = bea.emit("set_username", {"username": "Bea"}, callback=True)
    assert ack["ok"] and ack["username"] == "Bea" and ack["token"]
    assert {"name": None, "txt": "Bea has entered the chat!"} in events(ada, "message")
    assert "Bea has entered the chat!" not in [m["txt"] for m in events(bea, "message")]


def test_message_reaches_everyone_but_the_sender(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    ada.get_received(), bea.get_received()
    ack = ada.emit("message", {"msg": "hello"}, callback=True)
    assert ack["ok"] and isinstance(ack["id"], int) and isinstance(ack["ts"], int)
    for other in (bea, cyd):
        [message] = events(other, "message")
        assert message["name"] == "Ada" and message["txt"] == "hello"
        assert message["id"] == ack["id"] and message["ts"] == ack["ts"]
    assert events(ada, "message") == []


def test_seed_client_without_acks_still_chats(harness):
    ada, _ = harness.join("Ada")
    bea = harness.client()
    bea.emit("set_username", {"username": "Bea"})
    bea.emit("message", {"msg": "no ack here"})
    assert [m["txt"] for m in events(ada, "message")] == [
        "Bea has entered the chat!",
        "no ack here",
    ]


def test_disconnect_announces_leave_to_everyone(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    ada.get_received()
    bea.disconnect()
    assert {"name": None, "txt": "Bea has left the chat!"} in events(ada, "message")


def test_unnamed_disconnect_announces_nothing(harness):
    ada, _ = harness.join("Ada")
    anon = harness.client()
    anon.disconnect()
    assert events(ada, "message") == []


def test_text_is_relayed_verbatim(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    ada.get_received()
    text = "  <script>alert('x')</script> & \u202e émoji 🎉  "
    bea.emit("message", {"msg": text}, callback=True)
    assert [m["txt"] for m in events(ada, "message")] == [text]


# ---- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (None, 'Send an object like {username: "Ada"}.'),
        ("Ada", 'Send an object like {username: "Ada"}.'),
        (["Ada"], 'Send an object like {username: "Ada"}.'),
        ({}, "Your name must be a string."),
        ({"username": None}, "Your name must be a string."),
        ({"username": 7}, "Your name must be a string."),
        ({"username": {"a": 1}}, "Your name must be a string."),
        ({"username": "   "}, "Your name can't be empty."),
        ({"username": "x" * 33}, "Your name can be at most 32 characters."),
        ({"username": "a\nb"}, "Your name can't contain control characters."),
    ],
)
def test_bad_names_are_refused_clearly(harness, payload, reason):
    client = harness.client()
    assert client.emit("set_username", payload, callback=True) == refused(reason)
    assert client.is_connected()


def test_names_are_trimmed_and_32_characters_fit(harness):
    client = harness.client()
    name = "n" * 32
    ack = client.emit("set_username", {"username": f"  {name}  "}, callback=True)
    assert ack["username"] == name


def test_names_are_unique_case_insensitively(harness):
    harness.join("Ada")
    bea = harness.client()
    ack = bea.emit("set_username", {"username": "  aDA "}, callback=True)
    assert ack == refused("The name 'aDA' is taken: pick another.", Code.NAME_TAKEN)


def test_a_name_frees_up_when_its_user_leaves(harness):
    ada, _ = harness.join("Ada")
    ada.disconnect()
    other = harness.client()
    assert other.emit("set_username", {"username": "ada"}, callback=True)["ok"]


def test_rename_is_announced_and_frees_the_old_name(harness):
    ada, first = harness.join("Ada")
    bea, _ = harness.join("Bea")
    ada.get_received()
    ack = bea.emit("set_username", {"username": "Bee"}, callback=True)
    assert ack == {"ok": True, "username": "Bee", "token": ack["token"]}
    got = received(ada)
    assert ("message", {"name": None, "txt": "Bea is now known as Bee."}) in got
    assert ("presence", {"action": "rename", "name": "Bee", "old_name": "Bea", "count": 2}) in got
    cyd = harness.client()
    assert cyd.emit("set_username", {"username": "Bea"}, callback=True)["ok"]


def test_renaming_to_a_taken_name_keeps_the_old_one(harness):
    harness.join("Ada")
    bea, _ = harness.join("Bea")
    assert not bea.emit("set_username", {"username": "ADA"}, callback=True)["ok"]
    assert bea.emit("users", {}, callback=True)["users"] == ["Ada", "Bea"]


# ---- messages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (None, 'Send an object like {msg: "hello"}.'),
        ("hello", 'Send an object like {msg: "hello"}.'),
        ([1, 2], 'Send an object like {msg: "hello"}.'),
        ({}, "A message must be a string."),
        ({"msg": None}, "A message must be a string."),
        ({"msg": 42}, "A message must be a string."),
        ({"msg": ["a"]}, "A message must be a string."),
        ({"msg": {"nested": {"deep": 1}}}, "A message must be a string."),
        ({"msg": ""}, "A message can't be empty."),
        ({"msg": " \n\t "}, "A message can't be empty."),
        ({"msg": "x" * 2001}, "A message can be at most 2000 characters."),
        ({"msg": "x" * 100_000}, "A message can be at most 2000 characters."),
        ({"msg": "ok", "client_id": 5}, "client_id must be a string of 1 to 64 characters."),
        ({"msg": "ok", "client_id": "x" * 65}, "client_id must be a string of 1 to 64 characters."),
    ],
)
def test_bad_messages_are_refused_clearly(harness, payload, reason):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    ada.get_received()
    assert bea.emit("message", payload, callback=True) == refused(reason)
    assert events(ada, "message") == []
    assert bea.is_connected()


def test_a_message_before_a_name_is_refused(harness):
    client = harness.client()
    ack = client.emit("message", {"msg": "hi"}, callback=True)
    assert ack == refused("Pick a name before you chat.", Code.NAME_REQUIRED)


@pytest.mark.parametrize(
    ("event", "payload", "reason"),
    [("message", 5, 'Send an object like {msg: "hello"}.'),
     ("message", {"msg": "hi", "client_id": 7}, CLIENT_ID_REFUSAL),
     ("history", {"before": -1}, f"before and after must be whole numbers from 0 to {MAX_ID}."),
     ("claim_name", {"password": 12345678}, PASSWORD_REFUSAL),
     ("dm", {"to": " ", "text": "hi"}, 'Send an object like {to: "Bea", text: "hello"}.'),
     ("mod_mute", {"name": 5, "minutes": 10}, "Your name must be a string."),
     ("report", {"id": 0, "reason": "spam"}, f"id must be a whole number from 1 to {MAX_ID}.")],
)  # fmt: skip
def test_a_bad_shape_is_refused_before_the_missing_name(harness, event, payload, reason):
    # docs/protocol.md, "Which refusal comes first": the payload is read before anything else
    client = harness.client()
    assert client.emit(event, payload, callback=True) == refused(reason, Code.BAD_REQUEST)


def test_refusal_without_ack_comes_as_an_error_event(harness):
    client = harness.client()
    client.emit("message", {"msg": "hi"})
    assert events(client, "error") == [
        error_event("message", "Pick a name before you chat.", Code.NAME_REQUIRED)
    ]


def test_unknown_events_are_refused(harness):
    client = harness.client()
    assert client.emit("launch_missiles", {}, callback=True) == refused(
        "Unknown event 'launch_missiles'.", Code.UNKNOWN_EVENT
    )
    client.emit("launch_missiles", {})
    assert events(client, "error") == [
        error_event("launch_missiles", "Unknown event 'launch_missiles'.", Code.UNKNOWN_EVENT)
    ]


def test_ids_increase(harness):
    ada, _ = harness.join("Ada")
    ids = [ada.emit("message", {"msg": str(i)}, callback=True)["id"] for i in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5


def test_resend_with_the_same_client_id_is_stored_and_relayed_once(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    ada.get_received()
    first = bea.emit("message", {"msg": "once", "client_id": "c-1"}, callback=True)
    again = bea.emit("message", {"msg": "once", "client_id": "c-1"}, callback=True)
    assert again == {**first, "duplicate": True}
    assert [m["txt"] for m in events(ada, "message")] == ["once"]


# ---- rate limit ------------------------------------------------------------------------------


def test_flooding_gets_a_clear_error_and_nothing_over_the_limit_is_relayed(harness_factory):
    from rpschat.domain.ratelimit import RateSpec

    harness = harness_factory(chat_rate=RateSpec(5, 60.0))
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    ada.get_received()
    acks = [bea.emit("message", {"msg": f"m{i}"}, callback=True) for i in range(8)]
    assert [a["ok"] for a in acks] == [True] * 5 + [False] * 3
    assert acks[-1]["error"].startswith("You are sending too fast: wait ")
    assert len(events(ada, "message")) == 5
    cyd, _ = harness.join("Cyd")
    assert cyd.emit("message", {"msg": "not limited by Bea"}, callback=True)["ok"]


def test_rate_limit_off(harness_factory):
    harness = harness_factory(chat_rate=None, other_rate=None)
    ada, _ = harness.join("Ada")
    assert all(ada.emit("message", {"msg": "x"}, callback=True)["ok"] for _ in range(100))


# ---- presence, typing ------------------------------------------------------------------------


def test_users_lists_names_sorted_with_a_count(harness):
    harness.join("bea")
    harness.join("Ada")
    cyd = harness.client()
    assert cyd.emit("users", {}, callback=True) == {
        "ok": True,
        "users": ["Ada", "bea"],
        "count": 2,
        "has_more": False,
    }


def test_presence_is_pushed_on_join_and_leave(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    assert ("presence", {"action": "join", "name": "Bea", "count": 2}) in received(ada)
    bea.disconnect()
    assert ("presence", {"action": "leave", "name": "Bea", "count": 1}) in received(ada)


def test_typing_is_relayed_to_the_others(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    ada.get_received()
    assert bea.emit("typing", {"typing": True}, callback=True) == {"ok": True}
    assert events(ada, "typing") == [{"name": "Bea", "typing": True}]
    assert events(bea, "typing") == []


@pytest.mark.parametrize("payload", [None, {}, {"typing": "yes"}, {"typing": 1}])
def test_bad_typing_is_refused(harness, payload):
    ada, _ = harness.join("Ada")
    assert not ada.emit("typing", payload, callback=True)["ok"]


# ---- history ---------------------------------------------------------------------------------


def test_a_new_user_gets_recent_history(harness):
    ada, _ = harness.join("Ada")
    for i in range(3):
        ada.emit("message", {"msg": f"m{i}"}, callback=True)
    bea = harness.client()
    bea.emit("set_username", {"username": "Bea"}, callback=True)
    [history] = events(bea, "history")
    assert [m["txt"] for m in history["messages"]] == ["m0", "m1", "m2"]
    assert history["has_more"] is False
    assert all(m["name"] == "Ada" for m in history["messages"])


def test_history_pages_back(harness):
    ada, _ = harness.join("Ada")
    ids = [ada.emit("message", {"msg": f"m{i}"}, callback=True)["id"] for i in range(10)]
    page = ada.emit("history", {"before": ids[5], "limit": 3}, callback=True)
    assert [m["id"] for m in page["messages"]] == ids[2:5]
    assert page["has_more"] is True
    newer = ada.emit("history", {"after": ids[7]}, callback=True)
    assert [m["id"] for m in newer["messages"]] == ids[8:]


@pytest.mark.parametrize(
    "payload",
    [{"before": "x"}, {"after": 1.5}, {"limit": 0}, {"limit": 201}, {"limit": True}, "nope"],
)
def test_bad_history_requests_are_refused(harness, payload):
    ada, _ = harness.join("Ada")
    ack = ada.emit("history", payload, callback=True)
    assert ack["ok"] is False and ack["error"]


# ---- resume ----------------------------------------------------------------------------------


def wait_until(condition, timeout=10.0, what="the condition"):
    eventually(condition, timeout, what, pause=0.01)


def test_resume_after_a_drop_keeps_the_name_replays_and_announces_nothing(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0)
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    seen = bea.emit("message", {"msg": "seen"}, callback=True)["id"]
    harness.drop(ada)
    missed = [bea.emit("message", {"msg": f"missed {i}"}, callback=True)["id"] for i in range(3)]
    bea.get_received()
    back = harness.client(auth={"token": ada_ack["token"], "last_id": seen})
    got = received(back)
    assert got[0] == ("session", {"resumed": True, "username": "Ada", "token": ada_ack["token"]})
    replayed = [p for e, p in got if e == "message"]
    assert [m["id"] for m in replayed] == missed
    assert all(m["replayed"] is True and m["name"] == "Bea" for m in replayed)
    assert received(bea) == []  # neither a leave nor an entry
    live = bea.emit("message", {"msg": "live"}, callback=True)["id"]
    assert [m["id"] for m in events(back, "message")] == [live]


def test_resume_replaces_a_connection_that_has_not_timed_out(harness):
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    bea.get_received()
    back = harness.client(auth={"token": ada_ack["token"], "last_id": 0})
    assert events(back, "session")[0]["resumed"] is True
    named = [c.name for c in harness.services.connections.connections.values()]
    assert sorted(named) == ["Ada", "Bea"]  # the old connection of Ada is gone
    assert bea.emit("users", {}, callback=True)["users"] == ["Ada", "Bea"]
    assert [m for m in events(bea, "message") if m["name"] is None] == []


def test_a_drop_past_the_grace_period_announces_the_leave(harness_factory):
    harness = harness_factory(resume_grace_seconds=0.1)
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    ada.get_received()
    # The grace period's task is held, then run here: "not yet" does not race a 0.1 s sleep.
    runtime, held = harness.services.runtime, []
    spawn = runtime.spawn
    runtime.spawn = lambda fn, *args: (
        held.append((fn, args)) if fn.__name__ == "_release_after_grace" else spawn(fn, *args)
    )
    harness.drop(bea)
    assert events(ada, "message") == []  # not yet: Bea may come back
    [(release_after_grace, args)] = held
    release_after_grace(*args)  # sleeps out the grace period, then releases the name
    assert events(ada, "message") == [{"name": None, "txt": "Bea has left the chat!"}]


def test_a_second_drop_after_a_resume_gets_a_grace_period_of_its_own(harness_factory):
    """Drop, resume, drop: the first drop's grace period ends with the resume; only the second
    one's can release the name (it used to: the first timer took the second drop for its own)."""
    harness = harness_factory(resume_grace_seconds=0.1)
    ada, _ = harness.join("Ada")
    bea, bea_ack = harness.join("Bea")
    runtime, held = harness.services.runtime, []
    spawn = runtime.spawn
    runtime.spawn = lambda fn, *args: (
        held.append((fn, args)) if fn.__name__ == "_release_after_grace" else spawn(fn, *args)
    )
    harness.drop(bea)
    back = harness.client(auth={"token": bea_ack["token"]})
    assert events(back, "session")[0]["resumed"] is True
    harness.drop(back)
    ada.get_received()
    [(first, first_args), (second, second_args)] = held

    first(*first_args)  # the first drop's grace period ends: Bea's second one has not
    assert events(ada, "message") == []
    assert ada.emit("users", {}, callback=True)["users"] == ["Ada", "Bea"]
    second(*second_args)
    assert events(ada, "message") == [{"name": None, "txt": "Bea has left the chat!"}]


def test_resume_after_the_grace_period_takes_the_name_again(harness_factory):
    harness = harness_factory(resume_grace_seconds=0.05)
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    harness.drop(ada)
    wait_until(lambda: bea.emit("users", {}, callback=True)["users"] == ["Bea"])
    bea.get_received()
    back = harness.client(auth={"token": ada_ack["token"]})
    assert events(back, "session")[0]["resumed"] is True
    assert {"name": None, "txt": "Ada has entered the chat!"} in events(bea, "message")


def test_resume_fails_when_the_name_was_taken_meanwhile(harness_factory):
    harness = harness_factory(resume_grace_seconds=0.05)
    ada, ada_ack = harness.join("Ada")
    harness.drop(ada)
    other = harness.client()
    wait_until(lambda: other.emit("set_username", {"username": "Ada"}, callback=True)["ok"])
    back = harness.client(auth={"token": ada_ack["token"]})
    assert events(back, "session") == [
        {"resumed": False, "code": "name_taken", "error": "The name 'Ada' is taken: pick another."}
    ]


@pytest.mark.parametrize("token", ["nope.nope", "nope", 42, None, "", "a." + "x" * 300])
def test_resume_with_a_bad_token_says_so(harness, token):
    harness.join("Ada")
    client = harness.client(auth={"token": token, "last_id": 0})
    expected = (
        []
        if token is None
        else [
            {
                "resumed": False,
                "code": "session_expired",
                "error": "Your session has expired: pick a name again.",
            }
        ]
    )
    assert events(client, "session") == expected
    assert client.emit("set_username", {"username": "Bea"}, callback=True)["ok"]


def test_a_stolen_user_id_with_a_wrong_secret_is_refused(harness):
    _, ada_ack = harness.join("Ada")
    user_id = ada_ack["token"].split(".")[0]
    client = harness.client(auth={"token": f"{user_id}.guessed"})
    assert events(client, "session")[0]["resumed"] is False


def test_resend_after_resume_is_stored_once(harness_factory):
    harness = harness_factory(resume_grace_seconds=5.0)
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    first = ada.emit("message", {"msg": "hi", "client_id": "k1"}, callback=True)
    harness.drop(ada)
    back = harness.client(auth={"token": ada_ack["token"], "last_id": first["id"]})
    again = back.emit("message", {"msg": "hi", "client_id": "k1"}, callback=True)
    assert again == {**first, "duplicate": True}
    assert [m["txt"] for m in events(bea, "message")] == ["hi"]


def test_idle_unnamed_connections_are_closed(harness_factory):
    harness = harness_factory(unnamed_idle_seconds=0.0)
    harness.client()  # never names itself
    named, _ = harness.join("Ada")
    connections = harness.services.connections
    assert connections.kick_idle_unnamed() == 1
    assert [c.name for c in connections.connections.values()] == ["Ada"]
    assert named.emit("users", {}, callback=True)["ok"]


# ---- details docs/protocol.md states (found missing by writing a client from it) -------------


def test_the_first_set_username_sends_the_caller_its_own_presence_then_history(harness):
    ada = harness.client()
    ada.emit("set_username", {"username": "Ada"}, callback=True)
    assert received(ada) == [
        ("presence", {"action": "join", "name": "Ada", "count": 1}),
        ("history", {"messages": [], "has_more": False, "last_change": 0, "slow_mode": 0}),
    ]


def test_users_works_before_a_name_and_unnamed_connections_get_lobby_broadcasts(harness):
    anon = harness.client()
    assert anon.emit("users", {}, callback=True) == {
        "ok": True,
        "users": [],
        "count": 0,
        "has_more": False,
    }
    ada, _ = harness.join("Ada")
    ada.emit("typing", {"typing": True}, callback=True)
    ack = ada.emit("message", {"msg": "hello, lurkers"}, callback=True)
    assert received(anon) == [
        ("message", {"name": None, "txt": "Ada has entered the chat!"}),
        ("presence", {"action": "join", "name": "Ada", "count": 1}),
        ("typing", {"name": "Ada", "typing": True}),
        ("message", {"name": "Ada", "txt": "hello, lurkers", "id": ack["id"], "ts": ack["ts"]}),
    ]


def test_a_resend_with_different_text_keeps_the_first_text(harness):
    ada, _ = harness.join("Ada")
    bea, _ = harness.join("Bea")
    ada.get_received()
    first = bea.emit("message", {"msg": "first", "client_id": "c-9"}, callback=True)
    again = bea.emit("message", {"msg": "changed", "client_id": "c-9"}, callback=True)
    assert again == {**first, "duplicate": True}
    assert [m["txt"] for m in events(ada, "message")] == ["first"]
    page = bea.emit("history", {}, callback=True)["messages"]
    assert [m["txt"] for m in page] == ["first"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (None, "Send an object like {typing: true}."),
        ("yes", "Send an object like {typing: true}."),
        ({}, "typing must be true or false."),
        ({"typing": 1}, "typing must be true or false."),
    ],
)
def test_bad_typing_is_refused_with_its_reason(harness, payload, reason):
    ada, _ = harness.join("Ada")
    assert ada.emit("typing", payload, callback=True) == refused(reason, Code.BAD_REQUEST)
