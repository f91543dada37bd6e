"""Moderation through the handlers: moderators' events, reports and ignoring (issue 15)."""

import time

import pytest

from rpschat.domain.errors import Code
from tests.support.refusals import refused
from tests.unit.conftest import _payload, events
from tests.unit.test_names import CHEAP, PASSWORD

SHARED_STATES = ("memory", "redis")


@pytest.fixture
def harness(harness_factory):
    return harness_factory(**CHEAP, moderators=("Mod",))


@pytest.fixture
def mod(harness):
    client, _ = harness.join("Mod")
    assert client.emit("claim_name", {"password": PASSWORD}, callback=True)["ok"]
    client.get_received()
    return client


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


def test_an_unclaimed_moderator_name_is_no_moderator(harness_factory):
    harness = harness_factory(**CHEAP, moderators=("Mod",))
    mod, _ = harness.join("Mod")
    assert call(mod, "mod_log", {}) == refused("Only moderators can do that.", Code.NOT_MODERATOR)


def test_mod_delete_removes_the_message_everywhere(harness, mod):
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    sent = call(bea, "message", {"msg": "abuse"})
    cyd.get_received()
    assert call(mod, "mod_delete", {"id": sent["id"]}) == {"ok": True}
    assert events(cyd, "message_deleted") == [{"id": sent["id"]}]
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
        ("Mod", "ban", "Bea", "abuse")
    ]


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
    assert call(cyd, "report", {"id": sent["id"]})["error"].startswith("reason must be")


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
