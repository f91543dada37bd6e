"""Password work is bounded (domain/passwords.py): N at once, a bounded queue, then refused."""

import threading

import pytest

from rpschat.domain.errors import Refused
from rpschat.domain.passwords import PasswordWork
from rpschat.runtime import ThreadingRuntime


class SlowHasher:
    """Hashes only once `release` is set; counts how many run at once."""

    def __init__(self):
        self.release = threading.Event()
        self.running = self.most = 0
        self._lock = threading.Lock()

    def hash(self, password):
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.wait(10)
        with self._lock:
            self.running -= 1
        return "hash:" + password

    def verify(self, password_hash, password):
        return password_hash == self.hash(password)


def test_at_most_n_run_at_once_a_few_wait_and_the_rest_are_refused_with_a_wait():
    hasher = SlowHasher()
    work = PasswordWork(hasher, ThreadingRuntime(), concurrency=2, queue=3)
    outcomes = []

    def attempt():
        try:
            outcomes.append(work.hash("pw"))
        except Refused as refused:
            outcomes.append(refused.reason)

    threads = [threading.Thread(target=attempt) for _ in range(5)]
    for thread in threads:
        thread.start()
    while hasher.running < 2 or work.admitted < 5:
        threading.Event().wait(0.01)
    with pytest.raises(Refused, match=r"busy checking passwords: try again in \d+ s\.$"):
        work.hash("one too many")  # 2 running + 3 waiting: the sixth is refused at once
    hasher.release.set()
    for thread in threads:
        thread.join(10)
    assert outcomes == ["hash:pw"] * 5
    assert hasher.most == 2
    assert work.verify("hash:pw", "pw")  # the slots are all given back


def test_password_buckets_of_past_names_and_addresses_are_forgotten():
    from rpschat.domain.ratelimit import RateSpec
    from rpschat.storage.memory.ratelimit import MemoryRateLimiter

    limiter = MemoryRateLimiter()
    spec = RateSpec(5, 60.0)
    for n in range(10_000):  # a guesser choosing names and addresses at will
        limiter.check(f"login:ada@10.0.{n // 256}.{n % 256}", "login_name_address", spec, n)
    assert len(limiter._buckets) < 5_000  # refilled buckets go: bounded by one refill period
