"""Prometheus metrics of one node, served at /metrics (rpschat/ops/routes.py).

What is cheap to read when scraped (connections, users) is read then, not counted as it
happens; what must be counted is counted with pre-resolved label children (no label lookup on
the hot path), and frames sent, the hottest count, are a plain integer (`Tally`) that the
collector reads. Every label value comes from a fixed set: event names the server registered,
outcomes, end reasons, transports; never a user name or free text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, get_args

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from rpschat.domain.errors import Refused
from rpschat.domain.game.match import EndReason

log = logging.getLogger(__name__)

OUTCOMES = ("ok", "refused", "error")
END_REASONS = frozenset(get_args(EndReason))
TRANSPORTS = ("polling", "websocket")
OTHER = "other"  # the label value for anything outside a fixed set
GAMES_SAMPLE_SECONDS = 5.0

# Seconds; handlers answer in well under a millisecond unless they wait for a commit.
HANDLER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Tally:
    """A counter for the hottest paths: `tally.value += 1` and nothing else (one node, one
    event loop thread, so no lock); the collector reads `value` when scraped."""

    __slots__ = ("value", "wired")

    def __init__(self) -> None:
        self.value = 0
        self.wired = False  # set by the code that counts: an unwired tally is not exported


# Incremented by the transport (frames written, slow consumers dropped): module-level so the
# transport needs no reference to the Metrics object; read by whichever Metrics is installed.
frames_sent = Tally()
slow_consumers_dropped = Tally()


class Metrics:
    """The registry and every metric of one node."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # CPU, RSS, open fds
        r = self.registry
        self.events = Counter(
            "rpschat_events",
            "Client events handled, by event name and outcome (ok, refused, error).",
            ["event", "outcome"],
            registry=r,
        )
        self.handler_seconds = Histogram(
            "rpschat_handler_seconds",
            "Time from receiving a client event to its answer (a chat message: until stored).",
            ["event"],
            buckets=HANDLER_BUCKETS,
            registry=r,
        )
        self.messages = Counter(
            "rpschat_messages", "Chat messages stored by this node.", registry=r
        )
        self.commit_seconds = Histogram(
            "rpschat_commit_seconds",
            "Time to commit one batch of chat messages to the database.",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        self.games_finished = Counter(
            "rpschat_games_finished",
            "Games finished and recorded by this node, by how they ended.",
            ["reason"],
            registry=r,
        )
        self._finished = {reason: self.games_finished.labels(reason) for reason in END_REASONS}
        self._finished[OTHER] = self.games_finished.labels(OTHER)
        self._known_events: set[str] = set()
        self._live = _LiveCollector()
        r.register(self._live)

    # ---- what the server counts --------------------------------------------------------------

    def instrument(self, event: str, handler: Callable[[str, Any], Any]) -> Callable:
        """`handler(sid, payload)` counted by outcome and timed. A split handler (one that
        returns the slow part as a callable) is timed and counted when the slow part answers."""
        self._known_events.add(event)
        ok, refused, error = (self.events.labels(event, outcome) for outcome in OUTCOMES)
        observe = self.handler_seconds.labels(event).observe
        clock = time.perf_counter

        def run(fn: Callable[[], Any], start: float) -> Any:
            try:
                answer = fn()
            except Refused:
                refused.inc()
                observe(clock() - start)
                raise
            except Exception:
                error.inc()
                observe(clock() - start)
                raise
            if callable(answer):  # the slow part, run later: counted when it answers
                return lambda: run(answer, start)
            observe(clock() - start)
            if isinstance(answer, dict) and answer.get("ok") is False:
                refused.inc()
            else:
                ok.inc()
            return answer

        def instrumented(sid: str, payload: Any) -> Any:
            return run(lambda: handler(sid, payload), clock())

        return instrumented

    def history_committed(self, stored: int, seconds: float) -> None:
        """A batch of chat messages committed: `stored` new ones (duplicates not counted)."""
        if stored:
            self.messages.inc(stored)
        self.commit_seconds.observe(seconds)

    def game_recorded(self, reason: str) -> None:
        self._finished.get(reason, self._finished[OTHER]).inc()

    def count_results(self, results: Any) -> Any:
        """The results store, counting each game it records for the first time."""
        return _CountingResults(results, self)

    # ---- what is read when scraped -----------------------------------------------------------

    def watch(self, *, sockets: Callable[[], Iterable[Any]], users: Callable[[], int]) -> None:
        """Where the scrape reads connections (Engine.IO sockets) and users online."""
        self._live.sockets = sockets
        self._live.users = users

    def sample_games(self, count: Callable[[], int], runtime: Any, stopped: Callable[[], bool]):
        """Live games are counted every few seconds in a task of their own: with Redis that is a
        round trip, which a scrape must not wait for (nor fail on)."""

        def loop() -> None:
            while not stopped():
                try:
                    self._live.games = count()
                except Exception:  # Redis down: readiness says so; keep the last figure
                    log.debug("counting live games failed", exc_info=True)
                runtime.sleep(GAMES_SAMPLE_SECONDS)

        runtime.spawn(loop)


class _CountingResults:
    def __init__(self, inner: Any, metrics: Metrics):
        self._inner = inner
        self._metrics = metrics

    def record(self, winner, loser, players, reason, best_of, score, game_id) -> bool:
        recorded = self._inner.record(winner, loser, players, reason, best_of, score, game_id)
        if recorded:
            self._metrics.game_recorded(reason)
        return recorded

    def record_many(self, results: list[Any]) -> list[bool]:
        recorded = self._inner.record_many(results)
        for result, new in zip(results, recorded, strict=True):
            if new:
                self._metrics.game_recorded(result.reason)
        return recorded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _LiveCollector:
    """Gauges read when scraped, and the transport's plain-integer tallies."""

    def __init__(self) -> None:
        self.sockets: Callable[[], Iterable[Any]] = tuple
        self.users: Callable[[], int] = int
        self.games = 0

    def collect(self):
        by_transport = dict.fromkeys(TRANSPORTS, 0)
        for socket in list(self.sockets()):
            by_transport["websocket" if getattr(socket, "upgraded", False) else "polling"] += 1
        connections = GaugeMetricFamily(
            "rpschat_connections", "Open Engine.IO connections, by transport.", labels=["transport"]
        )
        for transport, count in by_transport.items():
            connections.add_metric([transport], count)
        yield connections
        yield GaugeMetricFamily(
            "rpschat_users_online", "Named users connected to this node.", value=self.users()
        )
        yield GaugeMetricFamily(
            "rpschat_games_active",
            "Games being played (with Redis: in the whole cluster; sampled every 5 s).",
            value=self.games,
        )
        if frames_sent.wired:
            yield CounterMetricFamily(
                "rpschat_deliveries", "Frames sent to clients.", value=frames_sent.value
            )
        if slow_consumers_dropped.wired:
            yield CounterMetricFamily(
                "rpschat_slow_consumers_dropped",
                "Clients disconnected because they stopped reading (backlog over the limit).",
                value=slow_consumers_dropped.value,
            )
