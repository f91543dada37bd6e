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
from tests.unit.conftest import events, received

# Every test here runs with the shared state in memory and in Redis (tests/unit/conftest.py).
SHARED_STATES = ("memory", "redis")

PASSWORD = "correct horse"
CHEAP = {"password_hash_kib": 64}  # Argon2id with 64 KiB: the same code, fast enough for tests


@pytest.fixture
def harness(harness_factory):
    return harness_factory(**CHEAP)


def claimed(harness, name="Ada"):
    client, ack = harness.join(name)
    ack_claim = client.emit("claim_name", {"password": PASSWORD}, callback=True)
    assert ack_claim == {"ok": True, "username": name, "device": ack_claim["device"]}
    assert ack_claim["device"].startswith("d1.")  # a device token (issue 21, item 3)
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


# A dotless i (U+0131) with a combining dot above (U+0307) draws as "i", and so does "i" with
# one; the skeleton maps ı to i but keeps the mark: these took names online (issue 21, item 5).
DOTTED = [("Alice", "alı\u0307ce"), ("Kim", "kı\u0307m"), ("Mika", "mı\u0307ka"),
          ("Kim", "ki\u0307m"), ("Kim", "kı\u0358m"), ("Kim", "ki\u0307\u0307m"),
          ("John", "\u0237\u0307ohn"), ("Alice", "ALİCE")]  # fmt: skip


@pytest.mark.parametrize(("online", "look_alike"), DOTTED)
def test_a_dot_above_an_i_is_no_new_name(harness, online, look_alike):
    harness.join(online)
    ack = harness.client().emit("set_username", {"username": look_alike}, callback=True)
    assert ack == refused(
        f"'{look_alike}' looks too much like the name '{online}', which is taken: pick another.",
        Code.NAME_LOOK_ALIKE,
    )


@pytest.mark.parametrize(("claimed_name", "look_alike"), DOTTED[:3])
def test_a_dot_above_an_i_is_no_way_around_a_claimed_name(harness, claimed_name, look_alike):
    owner, _ = claimed(harness, claimed_name)
    owner.disconnect()
    ack = harness.client().emit("set_username", {"username": look_alike}, callback=True)
    assert ack["ok"] is False and "looks too much like the claimed name" in ack["error"]


DOTS = st.sampled_from(["i", "ı\u0307", "i\u0307", "ı\u0358", "i\u0307\u0307", "İ"])


@hyp_settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(
        st.one_of(st.sampled_from(list("abcdefghklmnopqrstuvwxyz")), DOTS), min_size=1, max_size=12
    )
)
def test_any_spelling_of_the_dots_on_the_is_has_the_plain_names_key(parts):
    name = "".join(parts)
    plain = "".join("i" if part in DOTS_SPELLINGS else part for part in parts)
    assert NAME_RULES.key(name) == NAME_RULES.key(plain)


DOTS_SPELLINGS = {"i", "ı\u0307", "i\u0307", "ı\u0358", "i\u0307\u0307", "İ"}


def test_a_dot_that_is_drawn_elsewhere_still_makes_another_name():
    # a dot below, a diaeresis, a dot above another letter: visible, so other names
    for other in ("kı\u0323m", "kı\u0308m", "ko\u0307m", "ki\u0301\u0307m"):
        assert NAME_RULES.key(other) != NAME_RULES.key("kim"), other


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


def test_a_guest_logging_in_to_its_name_is_not_announced_as_leaving(harness):
    """Issue 23: a second device's page (a guest, User-621, until its log-in) announced
    "User-621 has left the chat!" to everyone."""
    ada, _ = claimed(harness)
    bea, _ = harness.join("Bea")
    phone, _ = harness.join("User-621")
    bea.get_received()
    assert log_in(phone)["ok"]
    got = received(bea)
    assert [data for name, data in got if name == "message"] == []  # Ada was online already
    assert [(p["action"], p["name"]) for n, p in got if n == "presence"] == [("leave", "User-621")]
    ada.disconnect()
    phone.disconnect()
    laptop, _ = harness.join("User-7")
    bea.get_received()
    assert log_in(laptop)["ok"]
    texts = [data["txt"] for name, data in received(bea) if name == "message"]
    assert texts == ["Ada has entered the chat!"]


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
    assert ada.emit("release_name", {"password": PASSWORD}, callback=True)["ok"] is True
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
    harness.services.connections.release(first["token"].partition(".")[0])
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
    tokens = harness.services.tokens

    def broken(*_args):
        raise RuntimeError("storage down")

    monkeypatch.setattr(tokens, "issue", broken)
    ack = log_in(guest)
    assert ack["ok"] is False
    monkeypatch.undo()
    users = guest.emit("users", {}, callback=True)["users"]
    assert users == ["Guest"]  # still the guest, and Ada is not online
    assert guest.emit("message", {"msg": "still me"}, callback=True)["ok"]


# ---- issue 21, item 3: strangers' guesses don't lock the owner out -------------------------------


def guess(harness, address, name="Ada", password="not the password", device=None):
    payload = {"username": name, "password": password}
    if device is not None:
        payload["device"] = device
    return harness.client(address=address).emit("set_username", payload, callback=True)


def test_strangers_guessing_from_elsewhere_do_not_lock_the_owner_out(harness_factory):
    """Before: five wrong guesses from anywhere used up the name's LOGIN_RATE, and the owner's
    right password was refused. Now the limit is per name and address."""
    harness = harness_factory(**CHEAP, login_rate=RateSpec(2, 60.0))
    owner, _ = claimed(harness)
    owner.disconnect()
    for stranger in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        answers = [guess(harness, stranger)["code"] for _ in range(3)]
        assert answers == ["wrong_password", "wrong_password", "too_many_attempts"]
    assert guess(harness, "198.51.100.9", password=PASSWORD)["ok"]  # the owner, elsewhere


def test_a_known_device_logs_in_while_strangers_used_up_the_names_attempts(harness_factory):
    harness = harness_factory(**CHEAP, login_rate_per_name=RateSpec(4, 600.0))
    client, _ = harness.join("Ada", address="198.51.100.9")
    device = client.emit("claim_name", {"password": PASSWORD}, callback=True)["device"]
    client.disconnect()
    for stranger in ("192.0.2.1", "192.0.2.2"):  # from many addresses: the name's own cap
        assert [guess(harness, stranger)["code"] for _ in range(2)] == ["wrong_password"] * 2
    assert guess(harness, "192.0.2.3")["code"] == "too_many_attempts"
    assert guess(harness, "203.0.113.5", password=PASSWORD)["code"] == "too_many_attempts"
    back = guess(harness, "203.0.113.5", password=PASSWORD, device=device)  # a known device
    assert back["ok"] and back["device"].startswith("d1.")
    forged = device[:-4] + ("0000" if not device.endswith("0000") else "1111")
    assert guess(harness, "203.0.113.6", password=PASSWORD, device=forged)["code"] == (
        "too_many_attempts"
    )


def test_a_device_token_is_for_its_own_account_only():
    from rpschat.domain.devices import DeviceTokens

    devices = DeviceTokens("a secret")
    token = devices.issue("u1")
    assert devices.known(token, "u1")
    assert not devices.known(token, "u2")
    assert not DeviceTokens("another secret").known(token, "u1")
    assert not devices.known(token.replace("d1.u1.", "d1.u2."), "u2")
    assert not devices.known(None, "u1") and not devices.known("d1.u1.x", "u1")


# ---- issue 21, item 4: a password change ends every other session -----------------------------


def told_before_closed(client, event):
    """What a client the server has disconnected received (the test client's get_received
    refuses once disconnected: its queue still holds it)."""
    return [p["args"][0] for p in client.queue if p["name"] == event]


def resumes(harness, token) -> bool:
    [session] = events(harness.client(auth={"token": token}), "session")
    return session["resumed"]


def test_a_password_change_ends_a_thiefs_session_and_every_old_token(harness):
    owner, first = claimed(harness)
    thief_client = harness.client()  # a second device: its token gets stolen
    ack = log_in(thief_client)
    stolen = ack["token"]
    thief_client.get_received()
    changed = owner.emit(
        "change_password", {"password": PASSWORD, "new_password": "a brand new one"}, callback=True
    )
    assert changed["ok"] and changed["token"] != first["token"] and changed["device"]
    assert told_before_closed(thief_client, "session_ended") == [{
        "reason": "password_changed",
        "message": "The password of this name was changed on another device: log in again.",
    }]  # fmt: skip
    assert not thief_client.is_connected()
    assert not resumes(harness, stolen) and not resumes(harness, first["token"])
    assert owner.is_connected() and owner.emit("message", {"msg": "still me"}, callback=True)["ok"]
    assert log_in(harness.client())["code"] == "wrong_password"
    assert log_in(harness.client(), password="a brand new one")["ok"]
    harness.drop(owner)
    assert resumes(harness, changed["token"])  # the new token resumes the owner's device


def test_end_sessions_signs_out_everywhere_else(harness):
    owner, _ = claimed(harness)
    other = harness.client()
    stolen = log_in(other)["token"]
    assert owner.emit("end_sessions", {"password": "wrong password"}, callback=True)["code"] == (
        "wrong_password"
    )
    ended = owner.emit("end_sessions", {"password": PASSWORD}, callback=True)
    assert ended["ok"] and not other.is_connected() and not resumes(harness, stolen)
    assert owner.is_connected()


def test_a_release_ends_the_accounts_other_sessions_for_good(harness):
    owner, first = claimed(harness)
    thief = harness.client()
    stolen = log_in(thief)["token"]
    released = owner.emit("release_name", {"password": PASSWORD}, callback=True)
    assert released["ok"] and released["token"] != first["token"]
    assert not thief.is_connected()
    assert owner.emit("claim_name", {"password": "claimed again!"}, callback=True)["ok"]
    assert not resumes(harness, stolen)  # before: the thief's old token resumed as the owner
    assert not resumes(harness, first["token"])
