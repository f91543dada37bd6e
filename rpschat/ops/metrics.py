"""Prometheus metrics of one node, served at /metrics (rpschat/ops/routes.py).

What is cheap to read when scraped (connections, users) is read then, not counted as it
happens. What must be counted is counted in plain integers (`Tally`, `FastHistogram`) resolved
before the hot path, and turned into Prometheus families by one collector when scraped:
prometheus_client's own Counter and Histogram take a lock per increment (a green lock under
eventlet), which cost a fan-out message ~8 us against ~2 us now. Every label value comes from a
fixed set: event names the server registered, outcomes, end reasons, transports; never a user
name or free text.

One node runs one event loop in one OS thread, so nothing here is locked; under the threading
runtime (tests) a count may in theory be lost to a race, never corrupted.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, get_args

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from eiotransport import Counts
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
LOCK_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)
LOCK_KINDS = ("game", "lobby")  # domain/game/context.py: a game's lock, the pairing lock
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Tally:
    """`tally.value += 1` and nothing else."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class FastHistogram:
    """A histogram without a lock: `observe(v)` is one bisect and two additions."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # Prometheus buckets are `le`
        self.sum += value

    def buckets(self) -> list[tuple[str, int]]:
        cumulative, total = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            cumulative.append((floatToGoString(bound), total))
        return cumulative


class Metrics:
    """The registry and every metric of one node."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # CPU, RSS, open fds
        self.events: dict[tuple[str, str], Tally] = {}
        self.handler_seconds: dict[str, FastHistogram] = {}
        self.messages = Tally()
        self.commit_seconds = FastHistogram(COMMIT_BUCKETS)
        self.games_finished = {reason: Tally() for reason in (*sorted(END_REASONS), OTHER)}
        self.lock_wait_seconds = {kind: FastHistogram(LOCK_BUCKETS) for kind in LOCK_KINDS}
        self._live = _LiveCollector(self)
        self.registry.register(self._live)

    # ---- what the server counts --------------------------------------------------------------

    def instrument(self, event: str, handler: Callable[[str, Any], Any]) -> Callable:
        """`handler(sid, payload)` counted by outcome and timed. A split handler (one that
        returns the slow part as a callable) is timed and counted when the slow part answers."""
        ok, refused, error = (self.events.setdefault((event, o), Tally()) for o in OUTCOMES)
        observe = self.handler_seconds.setdefault(event, FastHistogram(HANDLER_BUCKETS)).observe
        clock = time.perf_counter

        def run(start: float, fn: Callable[..., Any], *args: Any) -> Any:
            try:
                answer = fn(*args)
            except Refused:
                refused.value += 1
                observe(clock() - start)
                raise
            except Exception:
                error.value += 1
                observe(clock() - start)
                raise
            if callable(answer):  # the slow part, run later: counted when it answers
                return partial(run, start, answer)
            observe(clock() - start)
            if isinstance(answer, dict) and answer.get("ok") is False:
                refused.value += 1
            else:
                ok.value += 1
            return answer

        def instrumented(sid: str, payload: Any) -> Any:
            return run(clock(), handler, sid, payload)

        return instrumented

    def history_committed(self, stored: int, seconds: float) -> None:
        """A batch of chat messages committed: `stored` new ones (duplicates not counted)."""
        self.messages.value += stored
        self.commit_seconds.observe(seconds)

    def game_recorded(self, reason: str) -> None:
        self.games_finished.get(reason, self.games_finished[OTHER]).value += 1

    def lock_waited(self, kind: str, seconds: float) -> None:
        """A game operation waited `seconds` for its lock: a game's, or the lobby's."""
        histogram = self.lock_wait_seconds.get(kind)
        if histogram is not None:
            histogram.observe(seconds)

    def count_results(self, results: Any) -> Any:
        """The results store, counting each game it records for the first time."""
        return _CountingResults(results, self)

    # ---- what is read when scraped -----------------------------------------------------------

    def watch(
        self,
        *,
        sockets: Callable[[], Iterable[Any]],
        users: Callable[[], int],
        transport: Callable[[], Counts | None] = lambda: None,
    ) -> None:
        """Where the scrape reads connections (Engine.IO sockets), users online and what the
        transport counted (`eiotransport.counts`)."""
        self._live.sockets = sockets
        self._live.users = users
        self._live.transport = transport

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
            if new and not getattr(result, "computer", False):  # games between people
                self._metrics.game_recorded(result.reason)
        return recorded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _LiveCollector:
    """Every rpschat_* family, built when scraped: gauges read then, counts kept in tallies."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.sockets: Callable[[], Iterable[Any]] = tuple
        self.users: Callable[[], int] = int
        self.transport: Callable[[], Counts | None] = lambda: None
        self.games = 0

    def collect(self):
        m = self.metrics
        events = CounterMetricFamily(
            "rpschat_events",
            "Client events handled, by event name and outcome (ok, refused, error).",
            labels=["event", "outcome"],
        )
        for (event, outcome), tally in list(m.events.items()):
            events.add_metric([event, outcome], tally.value)
        yield events
        handlers = HistogramMetricFamily(
            "rpschat_handler_seconds",
            "Time from receiving a client event to its answer (a chat message: until stored).",
            labels=["event"],
        )
        for event, histogram in list(m.handler_seconds.items()):
            handlers.add_metric([event], histogram.buckets(), histogram.sum)
        yield handlers
        yield CounterMetricFamily(
            "rpschat_messages", "Chat messages stored by this node.", value=m.messages.value
        )
        commits = HistogramMetricFamily(
            "rpschat_commit_seconds", "Time to commit one batch of chat messages to the database."
        )
        commits.add_metric([], m.commit_seconds.buckets(), m.commit_seconds.sum)
        yield commits
        finished = CounterMetricFamily(
            "rpschat_games_finished",
            "Games finished and recorded by this node, by how they ended.",
            labels=["reason"],
        )
        for reason, tally in m.games_finished.items():
            finished.add_metric([reason], tally.value)
        yield finished
        waits = HistogramMetricFamily(
            "rpschat_lock_wait_seconds",
            "Time a game operation waited for its lock (with Redis: shared by every node).",
            labels=["lock"],
        )
        for kind, histogram in m.lock_wait_seconds.items():
            waits.add_metric([kind], histogram.buckets(), histogram.sum)
        yield waits
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
        counted = self.transport()  # None, or a count None: not counted (not exported as 0)
        if counted is not None and counted.packets_sent is not None:
            yield CounterMetricFamily(
                "rpschat_deliveries",
                "Engine.IO packets sent to clients (a WebSocket frame each).",
                value=counted.packets_sent,
            )
        if counted is not None and counted.slow_consumers_dropped is not None:
            yield CounterMetricFamily(
                "rpschat_slow_consumers_dropped",
                "Clients disconnected because they stopped reading (backlog over the limit).",
                value=counted.slow_consumers_dropped,
            )
