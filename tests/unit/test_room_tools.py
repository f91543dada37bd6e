"""Tools for a busy room through the handlers (issue 25, point 7): mod_unban and mod_purge."""

from __future__ import annotations

import pytest

from rpschat.domain.errors import Code
from tests.support.refusals import refused
from tests.unit.conftest import HeldClock, events
from tests.unit.test_names import CHEAP


def call(client, event, payload):
    return client.emit(event, payload, callback=True)


@pytest.fixture
def harness(harness_factory):
    return harness_factory(**CHEAP)


def test_only_moderators_unban_and_purge(harness):
    bea, _ = harness.join("Bea")
    for event, payload in [
        ("mod_unban", {"name": "Cyd"}),
        ("mod_purge", {"user": "Cyd", "minutes": 5}),
    ]:
        assert call(bea, event, payload) == refused(
            "Only moderators can do that.", Code.NOT_MODERATOR
        )


def test_a_ban_lifted_lets_the_user_back(harness_factory):
    harness = harness_factory(**CHEAP)
    mod = harness.moderator("Mod")
    harness.join("Gus", address="10.0.0.7")
    assert call(mod, "mod_ban", {"name": "Gus", "minutes": 60})["ok"]
    again = harness.client(address="10.0.0.7")
    assert not again.is_connected()  # the ban holds its address
    assert call(mod, "mod_unban", {"name": "gus"}) == {"ok": True, "name": "gus"}
    back = harness.client(address="10.0.0.7")
    assert call(back, "set_username", {"username": "Gus"})["ok"]
    assert call(mod, "mod_unban", {"name": "Gus"}) == refused("Gus is not banned.", Code.NOT_BANNED)
    log = call(mod, "mod_log", {"limit": 1})["actions"][0]
    assert (log["moderator"], log["action"]) == ("Mod", "unban")


def test_a_purge_removes_the_last_minutes_from_every_page_and_the_history(harness):
    clock = HeldClock(harness.services.runtime)
    mod = harness.moderator("Mod")
    spammer, _ = harness.join("Spam")
    cyd, _ = harness.join("Cyd")
    old = call(spammer, "message", {"msg": "an old one, kept"})
    clock.advance(31 * 60)
    recent = [call(spammer, "message", {"msg": f"spam {i}"})["id"] for i in range(3)]
    kept = call(cyd, "message", {"msg": "not spam"})
    stored, _ = harness.services.storage.history.append(
        "game:x", harness.services.directory.user_of("Spam"), "Spam", "game spam"
    )
    cyd.get_received()
    ack = call(mod, "mod_purge", {"user": "spam", "minutes": 30})
    assert ack == {"ok": True, "deleted": 4}
    assert [e["id"] for e in events(cyd, "message_deleted")] == [*recent, stored.id]
    ids = [m["id"] for m in call(cyd, "history", {})["messages"]]
    assert ids == [old["id"], kept["id"]]
    assert call(mod, "mod_purge", {"user": "Spam", "minutes": 0})["field"] == "minutes"
    log = call(mod, "mod_log", {"limit": 1})["actions"][0]
    assert (log["action"], log["target"]) == ("purge", "Spam: 4 messages of the last 30 min")


def test_the_operator_bans_announces_and_counts(harness):
    from rpschat.domain.room_tools import OPERATOR

    tools = harness.services.room_tools
    gus, gus_ack = harness.join("Gus", address="10.0.0.9")
    bea, _ = harness.join("Bea")
    tools.ban(OPERATOR, "Gus", 3600, "spam")
    [notice] = [pkt["args"][0] for pkt in gus.queue if pkt["name"] == "banned"]  # closed now
    assert (notice["reason"], notice["retry_after"]) == ("spam", 3600)
    assert not gus.is_connected()
    message_id = tools.announce("Maintenance at ten")
    [line] = [m for m in events(bea, "message") if m.get("id") == message_id]
    assert (line["name"], line["txt"], line["announcement"]) == (
        "Announcement", "Maintenance at ten", True,
    )  # fmt: skip
    # Gus's name is held for its grace period (the ban refuses its resume), as after a drop
    assert tools.stats(live_games=0) == {"online": 2, "games_live": 0, "messages_today": 1}
    back = harness.client(auth={"token": gus_ack["token"]}, address="10.0.0.10")
    assert not back.is_connected() or events(back, "session")[0]["resumed"] is False
    actions = harness.services.storage.moderation.log(2)
    assert [(a["moderator"], a["action"]) for a in actions] == [
        ("operator", "announce"), ("operator", "ban"),
    ]  # fmt: skip


def test_durations_for_the_command_line():
    import click

    from rpschat.ops.cli import parse_duration

    assert [parse_duration(d) for d in ("30m", "12h", "1d", "2W")] == [1800, 43200, 86400, 1209600]
    for bad in ("", "d", "1y", "0d", "-1d", "400d"):
        with pytest.raises(click.BadParameter):
            parse_duration(bad)


def test_owners_grant_and_revoke_moderators_on_claimed_accounts(harness):
    from rpschat.domain.roles import OWNER

    services = harness.services
    services.roles.designate("Olga", lambda: "correct horse", services.claims.passwords, OWNER)
    olga = harness.client()
    assert call(olga, "set_username", {"username": "Olga", "password": "correct horse"})["ok"]
    mod = harness.moderator("Mod")
    bea, _ = harness.join("Bea")
    assert call(mod, "mod_grant", {"name": "Bea"}) == refused(
        "Only owners can do that.", Code.NOT_OWNER
    )
    assert call(olga, "mod_grant", {"name": "Bea"})["code"] == Code.NOT_CLAIMED  # a guest
    assert call(bea, "claim_name", {"password": "correct horse"})["ok"]
    bea.get_received()
    assert call(olga, "mod_grant", {"name": "bea"}) == {"ok": True, "name": "Bea", "granted": True}
    assert events(bea, "role_changed") == [{"moderator": True, "owner": False}]
    assert call(bea, "my_roles", {}) == {"ok": True, "roles": ["moderator"]}
    assert call(olga, "my_roles", {}) == {"ok": True, "roles": ["owner"]}
    assert call(bea, "mod_log", {"limit": 1})["actions"][0]["moderator"] == "Olga"  # now a mod
    assert call(olga, "mod_grant", {"name": "Bea"})["granted"] is False
    assert call(olga, "mod_revoke", {"name": "Bea"}) == {"ok": True, "name": "Bea"}
    assert events(bea, "role_changed")[-1] == {"moderator": False, "owner": False}
    assert call(bea, "mod_log", {"limit": 1})["code"] == Code.NOT_MODERATOR
    assert call(olga, "mod_revoke", {"name": "Bea"})["code"] == Code.NOT_MODERATOR


def test_slow_mode_paces_everyone_but_moderators_and_is_shown(harness):
    clock = HeldClock(harness.services.runtime)
    mod = harness.moderator("Mod")
    bea, _ = harness.join("Bea")
    assert call(bea, "mod_slow", {"seconds": 30})["code"] == Code.NOT_MODERATOR
    assert call(mod, "mod_slow", {"seconds": 3601})["field"] == "seconds"
    bea.get_received()
    assert call(mod, "mod_slow", {"seconds": 30}) == {"ok": True}
    assert events(bea, "slow_mode") == [{"seconds": 30}]
    assert call(bea, "message", {"msg": "one"})["ok"]
    assert call(bea, "message", {"msg": "two"}) == refused(
        "Slow mode: one message every 30 s. Wait 30 s.", Code.SLOW_MODE, retry_after=30.0
    )
    assert call(mod, "message", {"msg": "mods are not slowed"})["ok"]
    assert call(mod, "message", {"msg": "mods are not slowed 2"})["ok"]
    clock.advance(30)
    assert call(bea, "message", {"msg": "three"})["ok"]
    cyd = harness.client()
    call(cyd, "set_username", {"username": "Cyd"})
    assert events(cyd, "history")[0]["slow_mode"] == 30  # a newcomer is told
    assert call(mod, "mod_slow", {"seconds": 0}) == {"ok": True}
    assert call(bea, "message", {"msg": "four"})["ok"] and call(bea, "message", {"msg": "5"})["ok"]


def test_open_reports_are_a_list_moderators_resolve(harness):
    mod = harness.moderator("Mod")
    bea, _ = harness.join("Bea")
    cyd, _ = harness.join("Cyd")
    spam = call(bea, "message", {"msg": "spam"})
    other = call(bea, "message", {"msg": "rude"})
    assert call(cyd, "report", {"id": spam["id"]}) == {"ok": True}  # the reason is optional
    assert call(mod, "report", {"id": spam["id"], "reason": "ads"}) == {"ok": True}
    assert call(cyd, "report", {"id": other["id"], "reason": "rude"}) == {"ok": True}
    assert call(cyd, "mod_reports", {})["code"] == Code.NOT_MODERATOR
    listed = call(mod, "mod_reports", {})["reports"]
    assert [(r["message_id"], r["reports"], r["txt"]) for r in listed] == [
        (other["id"], 1, "rude"), (spam["id"], 2, "spam"),
    ]  # fmt: skip
    assert listed[1]["reasons"] == [{"reporter": "Mod", "reason": "ads"},
                                    {"reporter": "Cyd", "reason": ""}]  # fmt: skip
    assert call(mod, "mod_delete", {"id": spam["id"]}) == {"ok": True}
    assert call(mod, "mod_reports", {})["reports"][1]["deleted"] is True
    mod.get_received()
    assert call(mod, "mod_resolve", {"message_id": spam["id"]}) == {"ok": True, "resolved": 2}
    assert events(mod, "report_resolved") == [{"message_id": spam["id"], "by": "Mod"}]
    assert [r["message_id"] for r in call(mod, "mod_reports", {})["reports"]] == [other["id"]]
    assert call(mod, "mod_resolve", {"message_id": spam["id"]}) == refused(
        "No open report of that message.", Code.NO_SUCH_MESSAGE
    )


def test_the_stores_keep_open_reports_and_settings(storage_url):
    from rpschat.composition import open_storage
    from rpschat.runtime import ThreadingRuntime

    storage = open_storage(storage_url, ThreadingRuntime())
    try:
        store = storage.moderation
        store.report("u1", "Ada", 7, "", 1)
        store.report("u2", "Bea", 7, "ads", 2)
        store.report("u2", "Bea", 8, "rude", 3)
        assert [(r["message_id"], r["name"], r["reason"]) for r in store.open_reports(10)] == [
            (8, "Bea", "rude"), (7, "Bea", "ads"), (7, "Ada", ""),
        ]  # fmt: skip
        assert store.resolve_reports(7, 4) == 2 and store.resolve_reports(7, 5) == 0
        assert [r["message_id"] for r in store.open_reports(10)] == [8]
        assert store.setting("slow_seconds") is None
        store.set_setting("slow_seconds", "30")
        store.set_setting("slow_seconds", "45")
        assert store.setting("slow_seconds") == "45"
    finally:
        storage.close()
