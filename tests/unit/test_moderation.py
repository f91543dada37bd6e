"""Moderation through the handlers: moderators' events, reports and ignoring (issue 15)."""

import re
import time

import pytest

from rpschat.domain.errors import Code
from rpschat.domain.ratelimit import RateSpec
from tests.support.refusals import refused
from tests.unit.conftest import HeldClock, _payload, events
from tests.unit.conftest import received as received_by
from tests.unit.test_names import CHEAP, PASSWORD

SHARED_STATES = ("memory", "redis")


@pytest.fixture
def harness(harness_factory):
    return harness_factory(**CHEAP)


@pytest.fixture
def mod(harness):
    return harness.moderator("Mod")


def call(client, event, payload):
    return client.emit(event, payload, callback=True)


@pytest.mark.parametrize(
    ("event", "payload"),
    [("mod_delete", {"id": 1}), ("mod_mute", {"name": "Bea", "minutes": 5}),
     ("mod_unmute", {"name": "Bea"}), ("mod_kick", {"name": "Bea"}),
     ("mod_ban", {"name": "Bea", "minutes": 5}), ("mod_log", {})],
)  # fmt: skip
def test_only_moderators_may(harness, mod, event, payload):
    bea, _ = harness.join("Bea")
    assert call(bea, event, payload) == refused("Only moderators can do that.", Code.NOT_MODERATOR)
    # a guest who took a moderator's name is no moderator: only the claimed name is
    assert call(bea, "mod_log", {}) == refused("Only moderators can do that.", Code.NOT_MODERATOR)


def test_claiming_a_name_listed_in_moderators_gives_no_powers(harness_factory):
    """MODERATORS names no moderator by itself (issue 21, item 2): a listed name nobody claimed
    is reserved, in any case or look-alike, until the operator designates its account."""
    harness = harness_factory(**CHEAP, moderators=("Modcat",))
    reserved = "'Modcat' is reserved (in any case or look-alike): pick another name."
    for name in ("Modcat", "modcat", "\u217fodcat", "Мodcat"):  # U+217F, Cyrillic М
        ack = call(harness.client(), "set_username", {"username": name})
        assert ack == refused(reserved, Code.NAME_RESERVED), name
    guest, _ = harness.join("Bea")
    assert call(guest, "mod_log", {}) == refused("Only moderators can do that.", Code.NOT_MODERATOR)
    harness.services.roles.designate("Modcat", lambda: PASSWORD, harness.services.claims.passwords)
    owner = harness.client()
    assert call(owner, "set_username", {"username": "modcat", "password": PASSWORD})["ok"]
    assert call(owner, "mod_log", {})["ok"]


def test_a_released_moderator_name_gives_a_new_claimant_nothing(harness, mod):
    bea, _ = harness.join("Bea")
    sent = call(bea, "message", {"msg": "hi"})
    assert call(mod, "release_name", {"password": PASSWORD})["ok"] is True
    assert call(mod, "mod_log", {}) == refused("Only moderators can do that.", Code.NOT_MODERATOR)
    assert call(bea, "report", {"id": sent["id"], "reason": "test"})["ok"]
    assert events(mod, "report_filed") == []  # no reports for a released moderator (item 14)
    mod.disconnect()
    stranger, _ = harness.join("Mod")
    assert call(stranger, "claim_name", {"password": "another password"})["ok"]
    assert call(stranger, "mod_log", {}) == refused(
        "Only moderators can do that.", Code.NOT_MODERATOR
    )
    log = call(harness.moderator("Mod2"), "mod_log", {})["actions"]
    assert [(a["action"], a["target"]) for a in log][:2] == [("grant", "Mod2"), ("revoke", "Mod")]


def test_mod_delete_removes_the_message_everywhere(harness, mod):
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    sent = call(bea, "message", {"msg": "abuse"})
    cyd.get_received()
    assert call(mod, "mod_delete", {"id": sent["id"]}) == {"ok": True}
    assert [e["id"] for e in events(cyd, "message_deleted")] == [sent["id"]]
    assert call(cyd, "history", {})["messages"] == []
    assert call(mod, "mod_delete", {"id": sent["id"]}) == refused(
        "No such message.", Code.NO_SUCH_MESSAGE
    )
    late, _ = harness.join("Dan")
    assert all(m["id"] != sent["id"] for m in call(late, "history", {})["messages"])


def test_a_muted_user_is_refused_saying_until_when(harness, mod):
    bea, _ = harness.join("Bea")
    ack = call(mod, "mod_mute", {"name": "bea", "minutes": 10, "reason": "spam"})
    assert ack["ok"] and isinstance(ack["until"], int)
    muted = call(bea, "message", {"msg": "hello?"})
    assert muted["ok"] is False and muted["error"].startswith("You are muted until ")
    assert muted["error"].endswith(" UTC.")
    assert muted["code"] == "muted" and muted["until"] == ack["until"]
    assert 599 < muted["retry_after"] <= 600
    assert call(mod, "mod_unmute", {"name": "Bea"}) == {"ok": True}
    assert call(bea, "message", {"msg": "thanks"})["ok"]
    assert call(mod, "mod_unmute", {"name": "Bea"}) == refused("Bea is not muted.")


def test_mod_kick_disconnects_with_a_system_line_and_refuses_the_resume(harness, mod):
    bea, first = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    assert call(mod, "mod_kick", {"name": "Bea", "reason": "rude"}) == {"ok": True}
    assert not bea.is_connected()
    texts = [m["txt"] for m in events(cyd, "message")]
    assert "Bea was removed by a moderator." in texts and "Bea has left the chat!" not in texts
    back = harness.client(auth={"token": first["token"]})
    [session] = events(back, "session")
    assert not session["resumed"] and session["error"].startswith("You were removed by a moderator")
    assert "Bea" not in call(cyd, "users", {})["users"]


def told_before_the_disconnect(client) -> list[tuple[str, object]]:
    """What a client got before its DISCONNECT packet (the test client keeps it queued)."""
    return [(pkt["name"], _payload(pkt)) for pkt in client.queue]


def test_a_kicked_user_is_told_why_on_every_connection_before_it_closes(harness, mod):
    bea, _ = harness.join("Bea")
    assert call(bea, "claim_name", {"password": PASSWORD})["ok"]
    other_device = harness.client()
    login = {"username": "Bea", "password": PASSWORD}
    assert call(other_device, "set_username", login)["ok"]
    bea.get_received(), other_device.get_received()

    assert call(mod, "mod_kick", {"name": "Bea", "reason": "rude"}) == {"ok": True}
    for connection in (bea, other_device):
        assert not connection.is_connected()
        (event, notice), *after = told_before_the_disconnect(connection)  # first, then the lobby's
        assert event == "kicked" and notice["reason"] == "rude"
        assert [name for name, _ in after] == ["message", "presence"]
        assert 59 <= notice["retry_after"] <= 60
        assert notice["until"] == pytest.approx(time.time() * 1000 + 60_000, abs=5_000)


def test_a_banned_user_is_told_why_and_until_when(harness, mod):
    bea, _ = harness.join("Bea")
    bea.get_received()
    ack = call(mod, "mod_ban", {"name": "Bea", "minutes": 90})
    event, notice = told_before_the_disconnect(bea)[0]
    assert event == "banned" and notice["reason"] is None and notice["until"] == ack["until"]
    assert 5399 <= notice["retry_after"] <= 5400  # seconds


def test_mod_ban_keeps_the_name_and_the_address_out(harness, mod):
    bea, _ = harness.join("Bea")
    assert call(bea, "claim_name", {"password": PASSWORD})["ok"]
    ack = call(mod, "mod_ban", {"name": "Bea", "minutes": 60, "reason": "abuse"})
    assert ack["ok"] and not bea.is_connected()
    # every test client has the same address: it is banned too
    banned = harness.socketio.test_client(harness.flask_app)
    assert not banned.is_connected()
    log = call(mod, "mod_log", {"limit": 5})["actions"]
    assert [(a["moderator"], a["action"], a["target"], a["reason"]) for a in log] == [
        ("Mod", "ban", "Bea", "abuse"),
        ("operator", "grant", "Mod", "moderator"),
    ]


@pytest.mark.parametrize("claim", [True, False])
@pytest.mark.parametrize("again", ["kim", "kı\u0307m", "KI\u0307M"])
def test_a_banned_name_does_not_come_back_as_itself_or_a_look_alike(harness, mod, claim, again):
    kim, _ = harness.join("Kim", address="10.0.0.7")
    if claim:
        assert call(kim, "claim_name", {"password": PASSWORD})["ok"]
    assert call(mod, "mod_ban", {"name": "Kim", "minutes": 60})["ok"]
    elsewhere = harness.client(address="10.0.0.8")  # not the banned address
    ack = call(elsewhere, "set_username", {"username": again})
    assert ack["ok"] is False, ack
    assert re.match(r"'.*' is banned until |The name 'Kim' is claimed|'.*' looks too much like "
                    r"the claimed name 'Kim'", ack["error"]), ack  # fmt: skip
    assert call(elsewhere, "message", {"msg": "back"})["ok"] is False


def test_report_reaches_online_moderators(harness, mod):
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    sent = call(bea, "message", {"msg": "abuse"})
    mod.get_received()
    assert call(cyd, "report", {"id": sent["id"], "reason": "insults"}) == {"ok": True}
    [report] = events(mod, "report_filed")
    assert report["message_id"] == sent["id"] and report["reporter"] == "Cyd"
    assert report["name"] == "Bea" and report["txt"] == "abuse" and report["reason"] == "insults"
    assert events(bea, "report_filed") == []
    assert call(cyd, "report", {"id": 10**9, "reason": "x"}) == refused(
        "No such message.", Code.NO_SUCH_MESSAGE
    )
    assert call(cyd, "report", {"id": sent["id"], "reason": " "})["error"].startswith(
        "reason must be"
    )  # optional, but not blank


def test_a_user_reports_a_message_once(harness, mod):
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    sent = call(bea, "message", {"msg": "abuse"})
    assert call(cyd, "report", {"id": sent["id"], "reason": "insults"}) == {"ok": True}
    again = call(cyd, "report", {"id": sent["id"], "reason": "still insults"})
    assert again == {"ok": True, "duplicate": True}
    assert len(events(mod, "report_filed")) == 1 and events(mod, "report_count") == []


def test_a_muted_user_can_not_report(harness, mod):
    bea, _ = harness.join("Bea")
    sent = call(mod, "message", {"msg": "you are muted"})
    assert call(mod, "mod_mute", {"name": "Bea", "minutes": 5})["ok"]
    refused = call(bea, "report", {"id": sent["id"], "reason": "revenge"})
    assert refused["ok"] is False and refused["error"].startswith("You are muted until ")


def test_reports_are_rate_limited_per_user(harness_factory):
    harness = harness_factory(**CHEAP, report_rate=RateSpec(2, 60.0))
    harness.moderator("Mod")
    bea, _ = harness.join("Bea")
    ids = [call(bea, "message", {"msg": f"m{i}"})["id"] for i in range(3)]
    cyd, _ = harness.join("Cyd")
    assert [call(cyd, "report", {"id": i, "reason": "x"})["ok"] for i in ids[:2]] == [True] * 2
    refused = call(cyd, "report", {"id": ids[2], "reason": "x"})
    assert re.fullmatch(r"Too many reports: wait \d+\.\d s\.", refused["error"]), refused


def test_moderators_hear_of_a_message_once_then_of_its_count(harness_factory):
    """Ten reporters of one message: one report_filed, then report_count at most every 5 s
    with the latest count (before: ten report_filed, a stream with no end)."""
    harness = harness_factory(**CHEAP, report_rate_per_ip=None)
    clock = HeldClock(harness.services.runtime)
    mod = harness.moderator("Mod")
    bea, _ = harness.join("Bea")
    sent = call(bea, "message", {"msg": "spam"})
    reporters = [harness.join(f"Guest{i}")[0] for i in range(10)]
    for reporter in reporters:
        assert call(reporter, "report", {"id": sent["id"], "reason": "spam"}) == {"ok": True}
    received = [(name, data) for name, data in received_by(mod) if name.startswith("report")]
    assert [name for name, _ in received] == ["report_filed", "report_count"]
    assert received[0][1]["reports"] == 1 and received[1][1]["reports"] == 2
    clock.advance(5.0)
    assert events(mod, "report_count") == [{"message_id": sent["id"], "reports": 10}]
    clock.advance(5.0)
    assert events(mod, "report_count") == []
    assert clock.pending() == []


def test_ignore_refuses_their_challenges(harness, mod):
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    assert call(bea, "ignore", {"name": "Cyd"}) == {"ok": True, "name": "Cyd"}
    assert call(cyd, "challenge", {"to": "Bea", "best_of": 1}) == refused(
        "Bea is not taking challenges from you.", Code.IGNORED
    )
    assert call(bea, "unignore", {"name": "cyd"}) == {"ok": True, "name": "Cyd"}
    assert call(cyd, "challenge", {"to": "Bea", "best_of": 1})["ok"]
    assert call(bea, "ignore", {"name": "Bea"}) == refused(
        "You can't ignore yourself.", Code.SELF_TARGET
    )
    assert call(bea, "ignore", {"name": "Nobody"}) == refused(
        "Nobody is not online.", Code.NOT_ONLINE
    )


def test_a_muted_user_can_not_send_direct_messages_or_game_chat(harness, mod):
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    assert call(bea, "dm", {"to": "Cyd", "text": "psst"})["ok"]
    for client in (bea, cyd):
        assert call(client, "find_match", {"best_of": 1})["ok"]
    [found] = events(bea, "match_found")
    assert call(bea, "game_chat", {"game_id": found["game_id"], "msg": "gl"})["ok"]
    assert call(mod, "mod_mute", {"name": "Bea", "minutes": 1})["ok"]
    for event, payload in [
        ("dm", {"to": "Cyd", "text": "psst again"}),
        ("game_chat", {"game_id": found["game_id"], "msg": "hi"}),
    ]:
        muted = call(bea, event, payload)
        assert muted["ok"] is False and muted["error"].startswith("You are muted until ")
        assert muted["code"] == "muted" and muted["retry_after"] > 0


def test_connecting_works_while_the_database_can_not_be_asked_about_bans(harness, monkeypatch):
    from rpschat.storage.common import StorageUnavailable

    def down(*_args, **_kwargs):
        raise StorageUnavailable()

    monkeypatch.setattr(harness.services.sanctions.store, "active", down)
    assert harness.client().is_connected()


# ---- issue 21, item 12: a mute holds for renames, challenges and the address's new guests ----


def test_a_muted_user_can_not_rename_nor_challenge(harness, mod):
    spammer, _ = harness.join("Spammer", address="203.0.113.50")
    cyd, _ = harness.join("Cyd")
    assert call(mod, "mod_mute", {"name": "Spammer", "minutes": 10})["ok"]
    cyd.get_received()
    renamed = call(spammer, "set_username", {"username": "BUY CHEAP www.spam.example"})
    assert renamed["ok"] is False and renamed["code"] == "muted"
    assert call(spammer, "set_username", {"username": "Spammer"})["ok"]  # its own name: nothing
    challenge = call(spammer, "challenge", {"to": "Cyd", "best_of": 1})
    assert challenge["ok"] is False and challenge["code"] == "muted"
    assert events(cyd, "message") == [] and events(cyd, "challenged") == []


def test_a_mute_holds_for_new_guests_of_the_address_not_for_accounts(harness, mod):
    spammer, _ = harness.join("Spammer", address="203.0.113.51")
    owner, _ = harness.join("Owner", address="198.51.100.51")
    assert call(owner, "claim_name", {"password": PASSWORD})["ok"]
    owner.disconnect()
    assert call(mod, "mod_mute", {"name": "Spammer", "minutes": 10})["ok"]
    spammer.disconnect()
    again = harness.client(address="203.0.113.51")  # a new guest from the muted address
    named = call(again, "set_username", {"username": "Innocent"})
    assert named["ok"] is False and named["code"] == "muted"
    owner_back = harness.client(address="203.0.113.51")  # an account logs in from there
    assert call(owner_back, "set_username", {"username": "Owner", "password": PASSWORD})["ok"]
    assert call(owner_back, "message", {"msg": "I'm not muted"})["ok"]
    elsewhere, _ = harness.join("Elsewhere", address="198.51.100.52")
    assert call(elsewhere, "message", {"msg": "nor am I"})["ok"]
    assert call(mod, "mod_unmute", {"name": "Spammer"})["ok"]
    after = call(again, "set_username", {"username": "Innocent"})
    assert after["ok"], after
