"""The chat's handlers through Flask-SocketIO's test client: the seed protocol and every refusal."""

import pytest

from tests.unit.conftest import events, received

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
    assert client.emit("set_username", payload, callback=True) == {"ok": False, "error": reason}
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
    assert ack == {"ok": False, "error": "The name 'aDA' is taken: pick another."}


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
    assert bea.emit("message", payload, callback=True) == {"ok": False, "error": reason}
    assert events(ada, "message") == []
    assert bea.is_connected()


def test_a_message_before_a_name_is_refused(harness):
    client = harness.client()
    ack = client.emit("message", {"msg": "hi"}, callback=True)
    assert ack == {"ok": False, "error": "Pick a name before you chat."}


def test_refusal_without_ack_comes_as_an_error_event(harness):
    client = harness.client()
    client.emit("message", {"msg": "hi"})
    assert events(client, "error") == [
        {"event": "message", "error": "Pick a name before you chat."}
    ]


def test_unknown_events_are_refused(harness):
    client = harness.client()
    assert client.emit("launch_missiles", {}, callback=True) == {
        "ok": False,
        "error": "Unknown event 'launch_missiles'.",
    }
    client.emit("launch_missiles", {})
    assert events(client, "error") == [
        {"event": "launch_missiles", "error": "Unknown event 'launch_missiles'."}
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
    assert cyd.emit("users", {}, callback=True) == {"ok": True, "users": ["Ada", "bea"], "count": 2}


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


def test_resume_with_token_keeps_the_name_and_replays_what_was_missed(harness):
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    seen = bea.emit("message", {"msg": "before"}, callback=True)["id"]
    ada.disconnect()  # (the test client disconnects on purpose; the name is released)
    back = harness.client(auth={"token": ada_ack["token"], "last_id": seen})
    [session] = events_of(back, "session")
    assert session == {"resumed": True, "username": "Ada", "token": ada_ack["token"]}


def events_of(client, name):
    return [args for event, args in received(client) if event == name]


def test_resume_with_a_bad_token_says_so(harness):
    client = harness.client(auth={"token": "nope.nope", "last_id": 0})
    assert events(client, "session") == [
        {"resumed": False, "error": "Your session has expired: pick a name again."}
    ]
