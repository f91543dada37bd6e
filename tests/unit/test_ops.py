"""rpschat.ops without a server: readiness timeouts, metric counting, log lines."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from rpschat.config import Settings
from rpschat.domain.errors import Code, Refused
from rpschat.ops.health import Check, Readiness
from rpschat.ops.logs import JsonFormatter, redact_url, startup_line, user_hash
from rpschat.ops.metrics import Metrics
from rpschat.runtime import ThreadingRuntime


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


# ---------------------------------------------------------------- readiness


def test_a_hanging_check_fails_within_the_budget_and_is_not_started_twice():
    runtime = ThreadingRuntime()
    release = threading.Event()
    calls = []

    def hangs() -> str:
        calls.append(1)
        release.wait(30)
        return "ok"

    readiness = Readiness(
        runtime,
        [
            Check("stuck", hangs, runtime, blocking=False),
            Check("fine", lambda: "ok", runtime, False),
        ],
    )
    for _ in range(2):
        started = time.monotonic()
        ok, checks = readiness.run()
        assert time.monotonic() - started < 2.0
        assert not ok and checks["stuck"].startswith("error: timed out") and checks["fine"] == "ok"
    assert len(calls) == 1  # the second probe waited on the first, stuck, call
    release.set()
    deadline = time.monotonic() + 5
    while readiness.run() != (True, {"stuck": "ok", "fine": "ok"}):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_failing_check_is_named_with_its_error():
    runtime = ThreadingRuntime()

    def refused() -> str:
        raise ConnectionRefusedError("connection refused\nsecond line")

    ok, checks = Readiness(runtime, [Check("database", refused, runtime, blocking=True)]).run()
    assert not ok and checks == {"database": "error: connection refused"}


# ---------------------------------------------------------------- metrics


def test_handlers_are_counted_by_outcome_and_timed():
    metrics = Metrics()

    def handler(sid, payload):
        if payload == "refuse":
            raise Refused(Code.NOT_QUEUED, "no")
        if payload == "crash":
            raise RuntimeError("bug")
        if payload == "answer-refusal":
            return {"ok": False, "error": "no"}
        return {"ok": True}

    counted = metrics.instrument("users", handler)
    assert counted("s", None) == {"ok": True}
    assert counted("s", "answer-refusal")["ok"] is False
    with pytest.raises(Refused):
        counted("s", "refuse")
    with pytest.raises(RuntimeError):
        counted("s", "crash")
    assert value(metrics, "rpschat_events_total", event="users", outcome="ok") == 1
    assert value(metrics, "rpschat_events_total", event="users", outcome="refused") == 2
    assert value(metrics, "rpschat_events_total", event="users", outcome="error") == 1
    assert value(metrics, "rpschat_handler_seconds_count", event="users") == 4


def test_a_split_handler_is_counted_when_its_slow_part_answers():
    metrics = Metrics()
    counted = metrics.instrument("message", lambda sid, payload: lambda: {"ok": True})
    slow_part = counted("s", {"msg": "hi"})
    assert callable(slow_part)
    assert value(metrics, "rpschat_events_total", event="message", outcome="ok") == 0
    assert slow_part() == {"ok": True}
    assert value(metrics, "rpschat_events_total", event="message", outcome="ok") == 1
    assert value(metrics, "rpschat_handler_seconds_count", event="message") == 1


def test_games_are_counted_once_by_a_bounded_reason():
    from rpschat.domain.game.ports import Leaderboard

    metrics = Metrics()

    class Results:
        seen: set = set()

        def record(self, winner, loser, players, reason, best_of, score, game_id):
            fresh = game_id not in self.seen
            self.seen.add(game_id)
            return fresh

        def leaderboard(self, limit=50):
            return Leaderboard()

    results = metrics.count_results(Results())
    assert results.record("a", "b", ("a", "b"), "won", 3, {}, "g1")
    assert not results.record("a", "b", ("a", "b"), "won", 3, {}, "g1")
    results.record("a", "b", ("a", "b"), "Robert'); DROP TABLE", 3, {}, "g2")
    assert results.leaderboard() == Leaderboard()
    assert value(metrics, "rpschat_games_finished_total", reason="won") == 1
    assert value(metrics, "rpschat_games_finished_total", reason="other") == 1
    text = "\n".join(
        s.labels.get("reason", "") for m in metrics.registry.collect() for s in m.samples
    )
    assert "DROP" not in text


def test_games_recorded_in_a_batch_are_counted_once_each():
    from rpschat.domain.game.match import GameResult
    from rpschat.storage.memory.results import MemoryResults

    metrics = Metrics()
    results = metrics.count_results(MemoryResults())
    batch = [
        GameResult("a", "b", ("a", "b"), reason, 3, {}, game_id)
        for reason, game_id in [("won", "g1"), ("timeout", "g2"), ("won", "g1")]
    ]
    assert results.record_many(batch) == [True, True, False]
    assert value(metrics, "rpschat_games_finished_total", reason="won") == 1
    assert value(metrics, "rpschat_games_finished_total", reason="timeout") == 1


def test_lock_waits_are_timed_by_kind_of_lock():
    from rpschat.domain.game.locks import KeyedLocks

    metrics = Metrics()
    locks = KeyedLocks(on_wait=metrics.lock_waited)
    with locks.hold("lobby"), locks.hold("game:g1"), locks.hold("game:g1"):
        pass
    assert value(metrics, "rpschat_lock_wait_seconds_count", lock="lobby") == 1
    assert value(metrics, "rpschat_lock_wait_seconds_count", lock="game") == 2
    assert value(metrics, "rpschat_lock_wait_seconds_sum", lock="game") < 1


def test_history_commits_count_new_messages_only():
    metrics = Metrics()
    metrics.history_committed(3, 0.004)
    metrics.history_committed(0, 0.002)  # a batch of duplicates
    assert value(metrics, "rpschat_messages_total") == 3
    assert value(metrics, "rpschat_commit_seconds_count") == 2


# ---------------------------------------------------------------- logs


def record(message: str, *args, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("rpschat.x", logging.INFO, __file__, 1, message, args, None)
    rec.__dict__.update(extra)
    return rec


def test_json_lines_carry_the_fields_and_hash_the_user_id():
    line = JsonFormatter().format(
        record("name %s", "Zoé\nEvil", sid="S1", user_id="u-123", address="10.0.0.1")
    )
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["event"] == "name Zoé\nEvil" and entry["logger"] == "rpschat.x"
    assert entry["level"] == "INFO" and entry["sid"] == "S1" and entry["address"] == "10.0.0.1"
    assert entry["user"] == user_hash("u-123") and "u-123" not in line


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://app:s3cret@db:5432/chat", "postgresql://app:***@db:5432/chat"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("sqlite:///instance/chat.db", "sqlite:///instance/chat.db"),
        ("memory://", "memory://"),
        ("", ""),
    ],
)
def test_urls_are_shown_without_passwords(url, shown):
    assert redact_url(url) == shown


def test_the_startup_line_names_the_settings_and_no_secret():
    settings = Settings.from_env(
        {
            "SECRET_KEY": "k-very-secret",
            "DATABASE_URL": "postgresql://app:pw-secret@db/chat",
            "REDIS_URL": "redis://:pw-redis@cache:6379/0",
            "METRICS_TOKEN": "tok-secret",
            "TRUST_PROXY": "true",
        }
    )
    line = startup_line(settings, "1.2.3", "eventlet")
    assert line.startswith("rpschat 1.2.3 starting mode=eventlet")
    for part in ("database=postgresql://app:***@db/chat", "redis=redis://:***@cache:6379/0"):
        assert part in line
    assert "trust_proxy=1" in line and "metrics=token" in line
    assert "secret" not in line and "pw-" not in line
