"""The sanctions' read cache (domain/sanctions.py) holds what was read in the last
SANCTION_CACHE_SECONDS, not a read for every address and name ever checked (issue 21, item 18:
those stayed until 10,000 had piled up, about 250 bytes for each client that connected)."""

from __future__ import annotations

import pytest

from rpschat.domain.errors import Code, Refused
from rpschat.domain.names import NameRules
from rpschat.domain.ports import Sanction
from rpschat.domain.sanctions import SANCTION_CACHE_SECONDS, Sanctions
from rpschat.storage.memory.moderation import MemoryModeration


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t


class CountingStore(MemoryModeration):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def active(self, *args, **kwargs):
        self.reads += 1
        return super().active(*args, **kwargs)


class NoRoles:
    def has(self, user_id, role) -> bool:
        return False


def sanctions() -> tuple[Sanctions, CountingStore, Clock]:
    store, clock = CountingStore(), Clock()
    return Sanctions(store, NameRules(lambda s: s), None, NoRoles(), clock), store, clock


def test_a_read_is_reused_within_the_period():
    checks, store, clock = sanctions()
    checks.check_can_connect("10.0.0.1")
    clock.t += SANCTION_CACHE_SECONDS / 2
    checks.check_can_connect("10.0.0.1")
    assert store.reads == 1


def test_reads_older_than_the_period_are_forgotten_at_the_next_read():
    checks, store, clock = sanctions()
    for n in range(500):
        checks.check_can_connect(f"10.0.{n // 256}.{n % 256}")
    assert len(checks._cache) == 500
    clock.t += SANCTION_CACHE_SECONDS
    checks.check_can_connect("10.9.9.9")
    assert len(checks._cache) == 1  # the 500 addresses' reads are gone, the new one is kept
    clock.t += SANCTION_CACHE_SECONDS / 2
    checks.check_can_connect("10.9.9.9")
    assert store.reads == 501  # and it is still used


def test_a_sanction_read_again_after_the_period_is_seen():
    checks, store, clock = sanctions()
    checks.check_can_connect("10.0.0.2")
    store.add(Sanction(kind="ban", until_ms=int((clock.t + 3600) * 1000), address="10.0.0.2"))
    clock.t += SANCTION_CACHE_SECONDS
    with pytest.raises(Refused) as refused:
        checks.check_can_connect("10.0.0.2")
    assert refused.value.code == Code.BANNED
