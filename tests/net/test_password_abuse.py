"""Passwords under attack (issue 21): the cost of hashing is bounded, strangers' guesses don't
lock the owner out, a password change ends the other sessions, failed attempts are logged."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from tests.support.clients import ChatClient, RawSocket, unique
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net

PASSWORD = "correct horse"
# A claim past the bound is refused with a wait, never queued behind the hashes.
WAIT_CODES = {"unavailable", "too_many_attempts"}


def rss_peak_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def bystander_acks(*bystanders: ChatClient, rounds: int) -> list[float]:
    """Each bystander sends one chat line a round (within the chat rate limit, 2 a second);
    the seconds each waited for its ack."""
    waits = []
    for _ in range(rounds):
        for bystander in bystanders:
            started = time.monotonic()
            assert bystander.call("message", {"msg": "a bystander talks"}, timeout=60)["ok"]
            waits.append(time.monotonic() - started)
        time.sleep(0.5)
    return waits


# ---- item 1: password hashing can't be turned against the server ---------------------------------


@pytest.fixture(scope="module")
def real_hashes(tmp_path_factory):
    """`make run`'s storage (SQLite: every commit goes through the thread pool the hashes used
    to fill) and the real Argon2id cost (64 MiB a hash)."""
    db = tmp_path_factory.mktemp("passwords") / "chat.db"
    with ServerProcess({"DATABASE_URL": f"sqlite:///{db}"}) as srv:
        yield srv


def test_a_burst_of_claims_costs_bounded_memory_and_no_bystanders_time(real_hashes):
    server = real_hashes
    ada = ChatClient(server.url)
    bea = ChatClient(server.url)
    attackers = [RawSocket(server.url) for _ in range(30)]
    try:
        ada.set_name(unique("Ada"))
        bea.set_name(unique("Bea"))
        for attacker in attackers:
            assert attacker.call("set_username", {"username": unique("Mal")})["ok"]
        ada.say("warm-up")
        quiet = bystander_acks(ada, bea, rounds=5)  # the same acks with no hashing going on
        before = rss_peak_mb(server.proc.pid)

        pending = [a.emit_with_ack("claim_name", {"password": PASSWORD}) for a in attackers]
        acks_times: list[float] = []
        done = threading.Event()

        def answers():
            return [
                a.wait_ack(ack_id, timeout=120)
                for a, ack_id in zip(attackers, pending, strict=True)
            ]

        results: list = []
        waiter = threading.Thread(target=lambda: (results.extend(answers()), done.set()))
        waiter.start()
        while not done.is_set() or len(acks_times) < 10:
            acks_times.extend(bystander_acks(ada, bea, rounds=1))
        waiter.join()

        peak = rss_peak_mb(server.proc.pid)
        claimed = [r for r in results if r["ok"]]
        refused = [r for r in results if not r["ok"]]
        assert claimed, results
        assert all(r["code"] in WAIT_CODES and r["retry_after"] > 0 for r in refused), refused
        assert peak < 300, f"peak RSS {peak:.0f} MB (before the burst: {before:.0f} MB)"
        # Behaviour, not speed: before the bound, the acks waited 3.4-6.3 s behind the hashes.
        # The bound (issue 21: under 100 ms) is taken over the same acks measured just before
        # the burst, so a test worker running beside this one slows both sides alike.
        extra = statistics.median(acks_times) - statistics.median(quiet)
        assert extra < 0.1, (quiet, acks_times)
        assert max(acks_times) < 1.0, acks_times
    finally:
        for client in (ada, bea, *attackers):
            client.close()


# ---- item 3: strangers' guesses don't lock the owner out; item 15: failed attempts are logged ----


@pytest.fixture
def guarded(tmp_path):
    """Cheap hashes; addresses as a trusted proxy forwards them; a small cap per name from
    unknown devices, so that strangers reach it. A server per test: its failed-attempt log
    lines are limited per process."""
    db = tmp_path / "chat.db"
    env = {
        "DATABASE_URL": f"sqlite:///{db}",
        "PASSWORD_HASH_KIB": "64",
        "TRUST_PROXY": "1",
        "LOGIN_RATE_PER_NAME": "30/600",
    }
    with ServerProcess(env) as srv:
        yield srv


def from_address(url: str, address: str) -> ChatClient:
    return ChatClient(url, headers={"X-Forwarded-For": address})


def attempt(url, address, name, password, device=None) -> dict:
    client = from_address(url, address)
    try:
        payload = {"username": name, "password": password}
        if device is not None:
            payload["device"] = device
        return client.call("set_username", payload)
    finally:
        client.close()


def test_the_owner_logs_in_while_strangers_guess(guarded):
    url = guarded.url
    name = unique("Ada")
    owner = from_address(url, "198.51.100.1")
    owner.set_name(name)
    device = owner.call("claim_name", {"password": PASSWORD}).get("device")
    owner.close()
    # four strangers, six guesses each: the sixth is over the name's limit from that address
    for n in range(4):
        codes = [attempt(url, f"192.0.2.{n}", name, f"guess {i}")["code"] for i in range(6)]
        assert codes == ["wrong_password"] * 5 + ["too_many_attempts"], codes
    # before: the name's 5/60 was used up from anywhere and the owner was refused
    assert attempt(url, "198.51.100.2", name, PASSWORD)["ok"]  # another address, no device
    # more strangers: the cap per name for unknown devices (30/600) is reached
    for n in range(4, 6):
        for i in range(5):
            attempt(url, f"192.0.2.{n}", name, f"guess {i}")
    refused = attempt(url, "198.51.100.3", name, PASSWORD)
    assert refused["code"] == "too_many_attempts"  # an unknown device: distributed guessing
    assert attempt(url, "198.51.100.3", name, PASSWORD, device=device)["ok"]  # a known one
    assert attempt(url, "192.0.2.0", name, PASSWORD, device=device)["ok"]  # even from there

    lines = guarded.wait_for_output(lambda line: f"wrong password for {name!r}" in line)
    assert lines and all(name in line and "192.0.2." in line for line in lines)
    assert not [line for line in guarded.log_lines() if "guess " in line]  # never a password
    # 24 wrong guesses in a moment: a burst of 20 lines, the rest counted in a later one
    assert len(lines) <= 21


def test_failed_attempts_leave_one_line_each_without_the_password(guarded):
    url = guarded.url
    name = unique("Bea")
    owner = from_address(url, "198.51.100.20")
    owner.set_name(name)
    assert owner.call("claim_name", {"password": PASSWORD})["ok"]
    wrong = owner.call("release_name", {"password": "hunter2hunter2"})
    assert wrong["code"] == "wrong_password"
    owner.close()
    [line] = guarded.wait_for_output(lambda line: f"wrong password for {name!r}" in line)
    assert "198.51.100.20" in line and "hunter2" not in line and "WARNING" in line


# ---- item 4: a password change or "log out everywhere" ends every other session ------------------


def test_a_password_change_ends_a_thiefs_session_and_its_stolen_token(guarded):
    url = guarded.url
    name = unique("Ada")
    owner = from_address(url, "198.51.100.30")
    owner.set_name(name)
    assert owner.call("claim_name", {"password": PASSWORD})["ok"]
    thief = from_address(url, "192.0.2.30")  # logged in once (a shared computer, a phishing)
    stolen = thief.call("set_username", {"username": name, "password": PASSWORD})["token"]

    changed = owner.call("change_password", {"password": PASSWORD, "new_password": "new secret!"})
    assert changed["ok"], changed
    ended = thief.wait_for("session_ended")
    assert ended["reason"] == "password_changed"
    thief.wait_for("disconnect")
    back = ChatClient(url, auth={"token": stolen}, headers={"X-Forwarded-For": "192.0.2.30"})
    session = back.wait_for("session")
    assert session["resumed"] is False and session["code"] == "session_expired"
    friend = from_address(url, "198.51.100.31")
    friend.set_name(unique("Bea"))
    assert friend.call("dm", {"to": name, "text": "for the owner only"})["ok"]
    owner.wait_for("dm", lambda m: m["text"] == "for the owner only")
    assert back.received("dm") == []
    for client in (owner, thief, back, friend):
        client.close()


def test_a_stolen_token_does_not_outlive_a_release_and_a_new_claim(guarded):
    url = guarded.url
    name = unique("Ada")
    owner = from_address(url, "198.51.100.40")
    owner.set_name(name)
    assert owner.call("claim_name", {"password": PASSWORD})["ok"]
    thief = from_address(url, "192.0.2.40")
    stolen = thief.call("set_username", {"username": name, "password": PASSWORD})["token"]
    thief.close()
    released = owner.call("release_name", {"password": PASSWORD})
    assert released["ok"]
    assert owner.call("claim_name", {"password": "the new one!"})["ok"]
    back = ChatClient(url, auth={"token": stolen}, headers={"X-Forwarded-For": "192.0.2.40"})
    session = back.wait_for("session")
    assert session["resumed"] is False  # before: it resumed as the owner, DMs and all
    back.close()
    owner.close()
