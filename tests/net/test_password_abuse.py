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
BUSY = "The server is busy checking passwords: try again in "
TOO_MANY = "Too many password attempts: wait "


def rss_peak_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


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
            for bystander in (ada, bea):  # each within the chat rate limit (2 a second)
                started = time.monotonic()
                assert bystander.call("message", {"msg": "a bystander talks"}, timeout=60)["ok"]
                acks_times.append(time.monotonic() - started)
            time.sleep(0.5)
        waiter.join()

        peak = rss_peak_mb(server.proc.pid)
        claimed = [r for r in results if r["ok"]]
        refused = [r["error"] for r in results if not r["ok"]]
        assert claimed, results
        assert all(e.startswith((BUSY, TOO_MANY)) for e in refused), refused
        assert peak < 300, f"peak RSS {peak:.0f} MB (before the burst: {before:.0f} MB)"
        # behaviour, not speed: before the bound, the acks waited 3.4-6.3 s behind the hashes
        assert statistics.median(acks_times) < 0.1, acks_times
        assert max(acks_times) < 1.0, acks_times
    finally:
        for client in (ada, bea, *attackers):
            client.close()
