"""Claimed names, look-alikes and reserved names, through the handlers (issue 15)."""

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from rpschat.domain.errors import Code, Refused
from rpschat.domain.ratelimit import RateSpec
from rpschat.domain.text import name_key
from rpschat.storage.confusables import NAME_RULES
from tests.support.refusals import refused
from tests.unit.conftest import events

# Every test here runs with the shared state in memory and in Redis (tests/unit/conftest.py).
SHARED_STATES = ("memory", "redis")

PASSWORD = "correct horse"
CHEAP = {"password_hash_kib": 64}  # Argon2id with 64 KiB: the same code, fast enough for tests


@pytest.fixture
def harness(harness_factory):
    return harness_factory(**CHEAP)


def claimed(harness, name="Ada"):
    client, ack = harness.join(name)
    assert client.emit("claim_name", {"password": PASSWORD}, callback=True) == {
        "ok": True,
        "username": name,
    }
    return client, ack


def log_in(client, name="Ada", password=PASSWORD):
    return client.emit("set_username", {"username": name, "password": password}, callback=True)


# ---- look-alikes, invisible and reserved names ------------------------------------------------


@pytest.mark.parametrize("name", ["Аda", "ADA\u3164", "Adа"])  # Cyrillic А or а, a Hangul filler
def test_a_look_alike_of_a_name_online_is_refused_saying_so(harness, name):
    harness.join("Ada")
    ack = harness.client().emit("set_username", {"username": name}, callback=True)
    assert ack == refused(
        f"'{name}' looks too much like the name 'Ada', which is taken: pick another.",
        Code.NAME_LOOK_ALIKE,
    )


def test_the_same_name_in_another_case_is_taken_as_before(harness):
    harness.join("Ada")
    ack = harness.client().emit("set_username", {"username": "ada"}, callback=True)
    assert ack == refused("The name 'ada' is taken: pick another.", Code.NAME_TAKEN)


@pytest.mark.parametrize("name", ["\u3164", "\u2800", "\u2800\u3164\u2800", "\u115f"])
def test_invisible_names_are_refused(harness, name):
    ack = harness.client().emit("set_username", {"username": name}, callback=True)
    assert ack == refused("Your name must have a visible character.", Code.BAD_NAME)


@pytest.mark.parametrize(
    ("name", "reserved"),
    [("Me", "Me"), ("mE", "Me"), ("Мe", "Me"), ("SYSTEM", "System"), ("Аdmin", "Admin"),
     ("moderator", "Moderator"), ("you", "You"), ("Server", "Server"), ("COMPUTER", "Computer")],
)  # fmt: skip
def test_reserved_names_are_refused_in_any_case_or_look_alike(harness, name, reserved):
    ack = harness.client().emit("set_username", {"username": name}, callback=True)
    assert ack == refused(
        f"'{reserved}' is reserved (in any case or look-alike): pick another name.",
        Code.NAME_RESERVED,
    )


def test_look_alike_key_is_the_uts39_skeleton_case_folded():
    key = NAME_RULES.key
    assert key("Аda") == key("ada") == key("ADA")
    assert key("rn") == key("m")
    assert key("Ada") != key("Bea")
    with pytest.raises(Refused):
        NAME_RULES.check_allowed("\u2800")
    NAME_RULES.check_allowed("Mel")


# ---- claiming --------------------------------------------------------------------------------


def test_a_claimed_name_is_refused_without_its_password(harness):
    ada, _ = claimed(harness)
    ada.disconnect()
    ack = harness.client().emit("set_username", {"username": "ada"}, callback=True)
    assert ack == refused("The name 'Ada' is claimed: log in with its password.", Code.NAME_CLAIMED)


def test_a_wrong_password_is_refused_saying_the_name_is_claimed(harness):
    ada, _ = claimed(harness)
    ada.disconnect()
    ack = log_in(harness.client(), password="wrong password")
    assert ack == refused("Wrong password: the name 'Ada' is claimed.", Code.WRONG_PASSWORD)


def test_a_look_alike_of_a_claimed_name_is_refused_even_offline(harness):
    ada, _ = claimed(harness)
    ada.disconnect()
    ack = log_in(harness.client(), name="Аda")
    assert ack == refused(
        "'Аda' looks too much like the claimed name 'Ada', which is taken: pick another.",
        Code.NAME_LOOK_ALIKE,
    )


def test_log_in_takes_a_claimed_name_back_as_the_same_user(harness):
    ada, first = claimed(harness)
    bea, _ = harness.join("Bea")
    ada.disconnect()
    bea.get_received()
    again = harness.client()
    ack = log_in(again, name="ada")
    assert ack["ok"] and ack["username"] == "Ada" and ack["token"]
    assert ack["token"].partition("_")[0] == first["token"].partition(".")[0]  # same user id
    assert {"name": None, "txt": "Ada has entered the chat!"} in events(bea, "message")


def test_log_in_while_online_adds_a_connection_and_keeps_the_first(harness):
    ada, _ = claimed(harness)
    bea, _ = harness.join("Bea")
    bea.get_received()
    second = harness.client()
    ack = log_in(second)
    assert ack["ok"] and ack["username"] == "Ada"
    assert ada.is_connected() and second.is_connected()
    assert events(bea, "message") == []  # nobody new entered
    assert ada.emit("message", {"msg": "from tab 1"}, callback=True)["ok"]
    assert second.emit("message", {"msg": "from tab 2"}, callback=True)["ok"]
    assert [(m["name"], m["txt"]) for m in events(bea, "message")] == [
        ("Ada", "from tab 1"),
        ("Ada", "from tab 2"),
    ]
    ada.disconnect()  # one tab closed: Ada is still online in the other
    assert events(bea, "message") == []
    assert "Ada" in bea.emit("users", {}, callback=True)["users"]
    second.disconnect()
    assert {"name": None, "txt": "Ada has left the chat!"} in events(bea, "message")


def test_each_device_resumes_with_its_own_token(harness):
    ada, first = claimed(harness)
    second = harness.client()
    second_ack = log_in(second)
    harness.drop(second)
    back = harness.client(auth={"token": second_ack["token"]})
    [session] = events(back, "session")
    assert session["resumed"] and session["username"] == "Ada"
    assert ada.is_connected()  # the other device's connection is not replaced


def test_a_guest_can_log_in_to_a_claimed_name(harness):
    ada, _ = claimed(harness)
    ada.disconnect()
    guest, _ = harness.join("Guest")
    ack = log_in(guest)
    assert ack["ok"] and ack["username"] == "Ada"
    users = guest.emit("users", {}, callback=True)["users"]
    assert "Ada" in users and "Guest" not in users


def test_a_claimed_name_cannot_be_renamed_away(harness):
    ada, _ = claimed(harness)
    ack = ada.emit("set_username", {"username": "Ada2"}, callback=True)
    assert ack == refused(
        "'Ada' is your claimed name: release it (release_name) to change it.", Code.RELEASE_FIRST
    )


def test_claim_refusals(harness):
    ada, _ = claimed(harness)
    assert ada.emit("claim_name", {"password": PASSWORD}, callback=True) == refused(
        "You have already claimed 'Ada'.", Code.ALREADY_CLAIMED
    )
    bea, _ = harness.join("Bea")
    for payload in ({"password": "short"}, {"password": "x" * 129}, {"password": 12345678}, {}):
        assert bea.emit("claim_name", payload, callback=True) == refused(
            "A password must be a string of 8 to 128 characters."
        )
    assert bea.emit("claim_name", "pw", callback=True) == refused(
        'Send an object like {password: "..."}.', Code.BAD_REQUEST
    )
    assert harness.client().emit("claim_name", {"password": PASSWORD}, callback=True) == refused(
        "Pick a name before you chat.", Code.NAME_REQUIRED
    )


def test_a_password_for_an_unclaimed_name_is_refused(harness):
    ack = log_in(harness.client(), name="Cyd")
    assert ack == refused(
        "'Cyd' is not claimed: take it without a password, then claim it.", Code.NOT_CLAIMED
    )


def test_release_name_needs_the_password_then_frees_the_name(harness):
    ada, _ = claimed(harness)
    assert ada.emit("release_name", {"password": "wrong password"}, callback=True) == refused(
        "Wrong password for 'Ada'.", Code.WRONG_PASSWORD
    )
    assert ada.emit("release_name", {"password": PASSWORD}, callback=True) == {"ok": True}
    assert ada.emit("release_name", {"password": PASSWORD}, callback=True) == refused(
        "Your name is not claimed.", Code.NOT_CLAIMED
    )
    ada.disconnect()
    ack = harness.client().emit("set_username", {"username": "Ada"}, callback=True)
    assert ack["ok"]


def test_password_attempts_are_limited_per_name(harness_factory):
    harness = harness_factory(**CHEAP, login_rate=RateSpec(2, 60.0))
    ada, _ = claimed(harness)
    ada.disconnect()
    client = harness.client()
    assert log_in(client, password="wrong one")["error"].startswith("Wrong password")
    assert log_in(client, password="wrong two")["error"].startswith("Wrong password")
    ack = log_in(client)  # even the right one: the name has had its tries for now
    assert not ack["ok"] and ack["error"].startswith("Too many password attempts: wait ")
    assert ack["code"] == "too_many_attempts" and 0 < ack["retry_after"] <= 30.0
    assert ack["error"] == f"Too many password attempts: wait {ack['retry_after']:.1f} s."


def test_a_resumed_guest_token_cannot_take_a_name_claimed_meanwhile(harness):
    guest, first = harness.join("Ada")
    harness.drop(guest)
    harness.services.chat.release_user(first["token"].partition(".")[0])
    ada, _ = claimed(harness)
    back = harness.client(auth={"token": first["token"]})
    [session] = events(back, "session")
    assert session == {
        "resumed": False,
        "code": "name_claimed",
        "error": "The name 'Ada' has been claimed: pick a name again.",
    }


def test_a_capital_that_looks_latin_only_as_a_capital_is_refused_too(harness):
    harness.join("Max")
    ack = harness.client().emit("set_username", {"username": "Мax"}, callback=True)  # Cyrillic М
    assert ack == refused(
        "'Мax' looks too much like the name 'Max', which is taken: pick another.",
        Code.NAME_LOOK_ALIKE,
    )


@given(st.text(min_size=1, max_size=12))
@hyp_settings(max_examples=300, deadline=None)
def test_names_equal_but_for_case_always_share_the_look_alike_key(name):
    # the directory keeps names unique by this key: "ADA" must never pass beside "Ada"
    for other in (name.upper(), name.lower(), name.swapcase(), name.title()):
        if name_key(other) == name_key(name):
            assert NAME_RULES.key(other) == NAME_RULES.key(name)


def test_a_log_in_that_fails_to_store_its_token_leaves_the_guest_as_it_was(harness, monkeypatch):
    ada, _ = claimed(harness)
    ada.disconnect()
    guest, first = harness.join("Guest")
    tokens = harness.services.chat.tokens

    def broken(*_args):
        raise RuntimeError("storage down")

    monkeypatch.setattr(tokens, "issue", broken)
    ack = log_in(guest)
    assert ack["ok"] is False
    monkeypatch.undo()
    users = guest.emit("users", {}, callback=True)["users"]
    assert users == ["Guest"]  # still the guest, and Ada is not online
    assert guest.emit("message", {"msg": "still me"}, callback=True)["ok"]
