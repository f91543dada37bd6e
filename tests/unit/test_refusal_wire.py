"""Refusals on the wire (docs/protocol.md, "Errors"): `{ok: false, code, error, ...details}` as
the ack, `{event, code, error, ...details}` as the `error` event, `{resumed: false, code, error,
...details}` as `session`; `retry_after` wherever waiting helps. `connect_error`'s `data` is
tested with a real client (tests/net/test_refusal_codes.py): the test client drops it."""

from __future__ import annotations

import re

import pytest

from rpschat.domain.errors import Code
from rpschat.domain.ratelimit import RateSpec
from rpschat.storage.common import StorageClosed
from tests.support.refusals import error_event, refused
from tests.unit.conftest import events
from tests.unit.test_names import CHEAP, PASSWORD

WAIT = re.compile(r"wait (\d+\.\d) s\.$")


def waited(answer: dict) -> float:
    """The wait the sentence shows, which `retry_after` must equal."""
    return float(WAIT.search(answer["error"]).group(1))


def test_an_ack_carries_the_code_the_sentence_and_the_field(harness):
    ada, _ = harness.join("Ada")
    ack = ada.emit("history", {"limit": 0}, callback=True)
    assert ack == {
        "ok": False,
        "code": "bad_request",
        "error": "limit must be a whole number from 1 to 200.",
        "field": "limit",
    }
    assert ada.emit("message", {"msg": " "}, callback=True) == {
        "ok": False,
        "code": "bad_message",
        "error": "A message can't be empty.",
    }


def test_the_error_event_carries_what_the_ack_would(harness):
    ada, _ = harness.join("Ada")
    ada.emit("typing", {"typing": "yes"})
    assert events(ada, "error") == [
        {
            "event": "typing",
            "code": "bad_request",
            "error": "typing must be true or false.",
            "field": "typing",
        }
    ]
    ada.emit("throw", {"game_id": "nope", "move": "rock"})
    assert events(ada, "error") == [error_event("throw", "No such game.", Code.NO_SUCH_GAME)]


def test_a_rate_limit_says_how_long_to_wait(harness_factory):
    harness = harness_factory(chat_rate=RateSpec(1, 10.0))
    ada, _ = harness.join("Ada")
    assert ada.emit("message", {"msg": "one"}, callback=True)["ok"]
    ack = ada.emit("message", {"msg": "two"}, callback=True)
    assert ack == refused(ack["error"], Code.RATE_LIMITED)
    assert 0 < ack["retry_after"] <= 10.0 and ack["retry_after"] == waited(ack)
    ada.emit("message", {"msg": "three"})
    [error] = events(ada, "error")
    assert error["code"] == "rate_limited" and 0 < error["retry_after"] <= 10.0


def test_the_limit_on_names_per_address_says_how_long_to_wait(harness_factory):
    harness = harness_factory(join_rate=RateSpec(1, 60.0))
    harness.join("Ada")
    ack = harness.client().emit("set_username", {"username": "Bea"}, callback=True)
    assert ack == refused(ack["error"], Code.TOO_MANY_NAMES)
    assert 0 < ack["retry_after"] <= 60.0 and ack["retry_after"] == waited(ack)


def test_password_attempts_say_how_long_to_wait(harness_factory):
    harness = harness_factory(**CHEAP, login_rate=RateSpec(1, 60.0))
    ada, _ = harness.join("Ada")
    assert ada.emit("claim_name", {"password": PASSWORD}, callback=True)["ok"]
    wrong = {"password": "wrong password"}
    assert ada.emit("release_name", wrong, callback=True)["code"] == "wrong_password"
    ack = ada.emit("release_name", wrong, callback=True)
    assert ack == refused(ack["error"], Code.TOO_MANY_ATTEMPTS)
    assert 0 < ack["retry_after"] <= 60.0 and ack["retry_after"] == waited(ack)


@pytest.fixture
def moderated(harness_factory):
    harness = harness_factory(**CHEAP)
    return harness, harness.moderator("Mod")


def test_a_mute_says_until_when_and_how_long_to_wait(moderated):
    harness, mod = moderated
    bea, _ = harness.join("Bea")
    muted = mod.emit("mod_mute", {"name": "Bea", "minutes": 2}, callback=True)
    ack = bea.emit("message", {"msg": "hello?"}, callback=True)
    assert ack == refused(ack["error"], Code.MUTED, until=muted["until"])
    assert 110 < ack["retry_after"] <= 120


def test_a_kicked_users_resume_says_until_when(moderated):
    harness, mod = moderated
    _, first = harness.join("Bea")
    assert mod.emit("mod_kick", {"name": "Bea"}, callback=True) == {"ok": True}
    [session] = events(harness.client(auth={"token": first["token"]}), "session")
    assert session["resumed"] is False and session["code"] == "kicked"
    assert session["error"].startswith("You were removed by a moderator: wait until ")
    assert 50 < session["retry_after"] <= 60 and isinstance(session["until"], int)
    assert set(session) == {"resumed", "code", "error", "retry_after", "until"}


def test_a_banned_claimed_name_says_until_when(moderated):
    harness, mod = moderated
    bea, _ = harness.join("Bea")
    assert bea.emit("claim_name", {"password": PASSWORD}, callback=True)["ok"]
    bea.disconnect()  # gone: the ban holds the claimed name (no address to ban)
    ban = mod.emit("mod_ban", {"name": "Bea", "minutes": 10}, callback=True)
    assert ban["ok"]
    log_in = {"username": "Bea", "password": PASSWORD}
    ack = harness.client().emit("set_username", log_in, callback=True)
    assert ack == refused(ack["error"], Code.BANNED, until=ban["until"])
    assert ack["error"].startswith("'Bea' is banned until ")
    assert 590 < ack["retry_after"] <= 600


def test_a_restart_says_to_send_it_again_soon(harness, monkeypatch):
    ada, _ = harness.join("Ada")

    def closed(*_args, **_kwargs):
        raise StorageClosed()

    monkeypatch.setattr(harness.services.storage.history, "append", closed)
    assert ada.emit("message", {"msg": "hi"}, callback=True) == refused(
        "The server is restarting: send it again once you are reconnected.",
        Code.RESTARTING,
        retry_after=1.0,
    )
