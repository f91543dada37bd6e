"""Hostile users against reports, direct messages, ratings and mutes (issue 21), on a real
server: SQLite, a moderator the operator designated, client addresses as a trusted proxy
forwards them."""

from __future__ import annotations

import pytest

from rpschat.domain.errors import Code
from tests.net.test_moderators import flask_cli
from tests.support.clients import ChatClient, unique
from tests.support.refusals import refused
from tests.support.server import ServerProcess
from tests.support.waiting import eventually

pytestmark = pytest.mark.net

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    database_url = f"sqlite:///{tmp_path_factory.mktemp('hostile-users') / 'chat.db'}"
    granted = flask_cli(database_url, "grant", "Mod", "--password-stdin", stdin=PASSWORD)
    assert granted.returncode == 0, granted.stderr
    env = {
        "DATABASE_URL": database_url,
        "PASSWORD_HASH_KIB": "64",
        "TRUST_PROXY": "1",
        "RATE_LIMIT": "100/10",  # bursts of 100 DMs: the junk below is sent at once
        "DM_UNREAD_PER_SENDER": "40",
    }
    with ServerProcess(env) as srv:
        yield srv


class Users:
    """Clients of one test, each from the address given (as the trusted proxy says)."""

    def __init__(self, url: str):
        self.url = url
        self.made: list[ChatClient] = []

    def connect(self, address: str = "198.51.100.1") -> ChatClient:
        client = ChatClient(self.url, headers={"X-Forwarded-For": address})
        self.made.append(client)
        return client

    def join(self, name: str, address: str = "198.51.100.1") -> ChatClient:
        client = self.connect(address)
        client.set_name(name)
        return client

    def log_in(self, name: str, password: str = PASSWORD, address: str = "198.51.100.1"):
        client = self.connect(address)
        ack = client.call("set_username", {"username": name, "password": password})
        assert ack["ok"], ack
        client.name, client.token = ack["username"], ack["token"]
        return client

    def close(self) -> None:
        for client in self.made:
            client.close()


@pytest.fixture
def users(server):
    made = Users(server.url)
    yield made
    made.close()


# ---- item 6: reports can't flood the moderators -------------------------------------------------


def test_ten_guests_of_one_address_reporting_reach_a_moderator_as_one_report(users):
    mod = users.log_in("Mod", address="192.0.2.1")
    victim = users.join(unique("Bea"), address="192.0.2.2")
    spam = victim.say("an ordinary message")["id"]
    others = [victim.say(f"another one {i}")["id"] for i in range(3)]
    guests = [users.join(unique("Guest"), address="203.0.113.66") for _ in range(10)]
    acks = [guest.call("report", {"id": spam, "reason": "spam"}) for guest in guests]
    acks += [guest.call("report", {"id": spam, "reason": "spam again"}) for guest in guests]
    acks += [guests[0].call("report", {"id": i, "reason": "more"}) for i in others]
    # one address: 20 reports a minute at most (REPORT_RATE_PER_IP), a guest's repeat changes
    # nothing; each report is answered
    assert all(ack["ok"] or ack["error"].startswith("Too many reports: wait ") for ack in acks)
    victim.say("marker")
    mod.wait_message("marker")
    filed = mod.received("report_filed")
    assert [r["message_id"] for r in filed].count(spam) == 1, filed
    assert len(filed) <= 1 + len(others)
    counts = mod.received("report_count")
    assert len(counts) <= 2 and all(c["message_id"] == spam for c in counts), counts


# ---- items 7 and 13: offline DMs can't be buried, nor pile up ------------------------------------


def test_junk_dms_do_not_bury_a_friends_and_the_rest_can_be_fetched(users):
    name = unique("Ada")
    ada = users.join(name, address="192.0.2.10")
    assert ada.call("claim_name", {"password": PASSWORD})["ok"]
    ada.disconnect()
    junk = " ".join(["junk"] * 399)  # 2,000 characters: 160 of them outgrow one answer
    spammers = [users.join(unique("Spam"), address=f"203.0.113.{n}") for n in range(5)]
    sent = []
    for spammer in spammers:
        acks = spammer.call_all("dm", [{"to": name, "text": junk}] * 40, timeout=60)
        assert all(ack["ok"] for ack in acks), acks
        sent += [ack["id"] for ack in acks]
    over = spammers[0].call("dm", {"to": name, "text": "one more"})
    assert over == refused(
        f"{name} has not read your last 40 messages yet: wait until they have.", Code.INBOX_FULL
    )
    guest = users.join(unique("Gus"), address="198.51.100.7")
    friend = users.join(unique("Friend"), address="198.51.100.8")
    assert guest.call("dm", {"to": name, "text": "hi from a guest"})["ok"]
    kept = friend.call("dm", {"to": name, "text": "lunch at one?"})
    assert kept["ok"]
    guest.disconnect()

    back = users.log_in(name, address="192.0.2.10")
    summary = back.wait_for("dm_unread_summary")
    delivered = back.received("dm")
    assert kept["id"] in [m["id"] for m in delivered]
    assert summary["unread"] == 202 and summary["delivered"] == len(delivered) <= 50
    seen = {m["id"] for m in delivered}
    while True:
        page = back.call("dm_unread", {"limit": 100})
        assert page["ok"], page
        if not page["messages"]:
            break
        seen |= {m["id"] for m in page["messages"]}
    assert page["unread"] == 0 and len(seen) == 202 and set(sent) <= seen

    eventually(  # once the guest has left for good (its grace period over)
        lambda: guest.name not in back.call("users", {})["users"], 20, "the guest gone"
    )
    gone = back.call("dm", {"to": guest.name, "text": "hello?"})
    assert gone == refused(
        f"{guest.name} was a guest and has left: nobody can send them messages any more.",
        Code.GUEST_LEFT,
    )


# ---- item 12: a mute holds for renames, challenges and the address's new guests -----------------


def test_a_muted_spammer_reaches_nobody_by_rename_challenge_or_a_new_guest(users):
    mod = users.log_in("Mod", address="192.0.2.20")
    spammer = users.join(unique("Spammer"), address="203.0.113.90")
    watcher = users.join(unique("Cyd"), address="198.51.100.90")
    assert mod.call("mod_mute", {"name": spammer.name, "minutes": 10})["ok"]
    renamed = spammer.call("set_username", {"username": "BUY CHEAP www.spam.example"})
    assert renamed["ok"] is False and renamed["code"] == "muted"
    challenge = spammer.call("challenge", {"to": watcher.name, "best_of": 1})
    assert challenge["ok"] is False and challenge["code"] == "muted"
    fresh = users.connect(address="203.0.113.90")  # a new guest from the spammer's address
    named = fresh.call("set_username", {"username": unique("Innocent")})
    assert named["ok"] is False and named["code"] == "muted"
    marker = users.join(unique("Marker"), address="198.51.100.91")
    marker.say("marker")
    watcher.wait_message("marker")
    assert not [t for t in watcher.texts() if t and "BUY CHEAP" in t]
    assert watcher.received("challenged") == []
