"""Details docs/protocol.md states for whoever writes a client from it (issue 27, point 4):
lengths in code points, which spelling a refusal quotes, times cut to the minute, mod_log's
target for a delete, a moderator acting on itself, a resume after the grace period, and the
refusal texts a client had to find out by trying."""

from __future__ import annotations

import calendar
import time

import pytest

from rpschat.domain.errors import Code
from rpschat.domain.moderation import until_text
from tests.support.refusals import refused
from tests.support.waiting import eventually
from tests.unit.conftest import events, received
from tests.unit.test_names import CHEAP, PASSWORD

EMOJI = "\U0001f600"  # one code point, two UTF-16 units: JavaScript's .length says 2


def call(client, event, payload):
    return client.emit(event, payload, callback=True)


@pytest.fixture
def moderated(harness_factory):
    harness = harness_factory(**CHEAP, resume_grace_seconds=0.05)
    return harness, harness.moderator("Mod")  # an account the operator designated


def claimed(harness, name: str):
    client, ack = harness.join(name)
    assert call(client, "claim_name", {"password": PASSWORD})["ok"]
    return client, ack


# ---- characters are code points ------------------------------------------------------------


def test_lengths_count_code_points_not_utf16_units(harness):
    ada, _ = harness.join(EMOJI * 32)  # 64 UTF-16 units
    assert call(ada, "message", {"msg": EMOJI * 2000})["ok"]
    assert call(ada, "message", {"msg": EMOJI * 2001}) == refused(
        "A message can be at most 2000 characters.", Code.BAD_MESSAGE
    )
    assert call(harness.client(), "set_username", {"username": EMOJI * 33}) == refused(
        "Your name can be at most 32 characters.", Code.BAD_NAME
    )


# ---- which spelling a refusal quotes -------------------------------------------------------


def test_refusals_quote_what_was_sent_the_claimed_spelling_or_the_reserved_word(moderated):
    harness, mod = moderated
    harness.join("Ada")
    claimed(harness, "Bea")
    other = harness.client()

    def refusal(payload):
        return call(other, "set_username", payload)["error"]

    assert refusal({"username": "  ADA "}) == "The name 'ADA' is taken: pick another."
    assert refusal({"username": "\u0410da"}) == (  # Cyrillic А: what was sent, then the holder's
        "'\u0410da' looks too much like the name 'Ada', which is taken: pick another."
    )
    assert refusal({"username": "mE"}) == (
        "'Me' is reserved (in any case or look-alike): pick another name."
    )
    assert refusal({"username": "bea"}) == "The name 'Bea' is claimed: log in with its password."
    wrong = {"username": "BEA", "password": "not the password"}
    assert refusal(wrong) == "Wrong password: the name 'Bea' is claimed."
    not_claimed = {"username": "cyd", "password": PASSWORD}
    assert refusal(not_claimed) == (
        "'cyd' is not claimed: take it without a password, then claim it."
    )
    ada_dm = call(mod, "dm", {"to": "  zed  ", "text": "hi"})
    assert ada_dm["error"] == "zed is not online."
    assert call(mod, "dm", {"to": "z" * 40, "text": "hi"})["error"] == f"{'z' * 32} is not online."
    assert call(mod, "mod_unmute", {"name": " bEA "})["error"] == "Bea is not muted."


# ---- times ---------------------------------------------------------------------------------


def test_times_in_sentences_are_cut_to_the_minute_not_rounded():
    almost_six = calendar.timegm((2026, 11, 28, 5, 59, 59)) * 1000 + 999
    assert until_text(almost_six) == "2026-11-28 05:59 UTC"


def test_a_mute_line_shows_the_acks_until_cut_to_the_minute(moderated):
    harness, mod = moderated
    bea, _ = harness.join("Bea")
    ack = call(mod, "mod_mute", {"name": "Bea", "minutes": 5})
    shown = time.strftime("%Y-%m-%d %H:%M", time.gmtime(ack["until"] // 1000))
    assert call(bea, "message", {"msg": "hi"})["error"] == f"You are muted until {shown} UTC."


# ---- moderation ----------------------------------------------------------------------------


def test_mod_log_names_a_deleted_message_by_its_id_and_author(moderated):
    harness, mod = moderated
    bea, _ = harness.join("Bea")
    sent = call(bea, "message", {"msg": "spam"})
    assert call(mod, "mod_delete", {"id": sent["id"]}) == {"ok": True}
    [action] = call(mod, "mod_log", {"limit": 1})["actions"]
    assert (action["action"], action["target"], action["until"]) == (
        "delete",
        f"#{sent['id']} by Bea",
        None,
    )


@pytest.mark.parametrize(
    ("event", "payload"),
    [("mod_mute", {"name": "mod", "minutes": 5}), ("mod_unmute", {"name": "MOD"}),
     ("mod_kick", {"name": "Mod"}), ("mod_ban", {"name": "Mod", "minutes": 5})],
)  # fmt: skip
def test_a_moderator_acting_on_itself_is_told_moderators_cant_act_on_each_other(
    moderated, event, payload
):
    _, mod = moderated
    assert call(mod, event, payload) == refused(
        "Moderators can't act on each other.", Code.TARGET_IS_MODERATOR
    )


def test_mod_log_refuses_a_limit_over_200(moderated):
    _, mod = moderated
    assert call(mod, "mod_log", {"limit": 201}) == refused(
        "limit must be a whole number from 1 to 200.", Code.BAD_REQUEST, field="limit"
    )
    assert call(mod, "mod_log", "any payload")["ok"]  # not an object: the default limit


@pytest.mark.parametrize(
    ("event", "shape"),
    [("mod_delete", "{id: 42}"), ("mod_mute", '{name: "Bea", minutes: 10, reason: "spam"}'),
     ("mod_unmute", '{name: "Bea"}'), ("mod_kick", '{name: "Bea", reason: "spam"}'),
     ("mod_ban", '{name: "Bea", minutes: 60, reason: "abuse"}'),
     ("report", '{id: 42, reason: "abuse"}'), ("ignore", '{name: "Bea"}'),
     ("unignore", '{name: "Bea"}')],
)  # fmt: skip
def test_moderation_events_refuse_a_payload_that_is_not_an_object_showing_its_shape(
    moderated, event, shape
):
    _, mod = moderated
    assert call(mod, event, ["Bea"]) == refused(f"Send an object like {shape}.", Code.BAD_REQUEST)


def test_a_kicked_claimed_name_logging_in_is_told_until_when(moderated):
    harness, mod = moderated
    bea, _ = claimed(harness, "Bea")
    assert call(mod, "mod_kick", {"name": "Bea"}) == {"ok": True}
    log_in = call(harness.client(), "set_username", {"username": "bea", "password": PASSWORD})
    assert log_in == refused(log_in["error"], Code.KICKED)
    assert (
        log_in["error"]
        == f"You were removed by a moderator: wait until {until_text(log_in['until'])}."
    )


def test_a_banned_users_token_resuming_from_another_address_is_told_until_when(
    moderated, monkeypatch
):
    harness, mod = moderated
    _, first = harness.join("Bea")
    # Bea last connected from elsewhere: the ban holds that address, not the test clients'
    monkeypatch.setattr(harness.services.directory, "address_of", lambda _u: "192.0.2.7")
    ban = call(mod, "mod_ban", {"name": "Bea", "minutes": 30})
    [session] = events(harness.client(auth={"token": first["token"]}), "session")
    text = f"You were removed by a moderator: wait until {until_text(ban['until'])}."
    assert session == {
        "resumed": False,
        "code": "banned",
        "error": text,
        "until": ban["until"],
        "retry_after": session["retry_after"],
    }
    assert 1790 < session["retry_after"] <= 1800


# ---- a resume after the grace period -------------------------------------------------------


def test_a_resume_after_the_grace_period_is_resumed_and_announced_as_a_fresh_entry(moderated):
    harness, _ = moderated
    watcher, _ = harness.join("Cyd")
    ada, first = harness.join("Ada")
    call(ada, "find_match", {"best_of": 3, "opponent": "computer"})
    harness.drop(ada)
    eventually(
        lambda: {"name": None, "txt": "Ada has left the chat!"} in events(watcher, "message"),
        10,
        "the leave after the grace period",
        pause=0.01,
    )
    back = harness.client(auth={"token": first["token"], "last_id": 0})
    got = received(back)
    assert got[0] == ("session", {"resumed": True, "username": "Ada", "token": first["token"]})
    assert "game_state" not in [name for name, _ in got]  # its game ended meanwhile
    seen = received(watcher)
    assert ("message", {"name": None, "txt": "Ada has entered the chat!"}) in seen
    assert ("presence", {"action": "join", "name": "Ada", "count": 3}) in seen
    assert call(back, "my_games", {})["games"] == []  # a guest's games went when it left
