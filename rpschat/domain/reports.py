"""What moderators hear of reports, bounded: one `report_filed` per message, then its count.

Before, every report was a line on every moderator's page: 10 guests on one address sent a
moderator 1,190 `report_filed` (2.7 MB) in 10 s. Now a user reports a message once, a muted user
not at all, reports are rate-limited per user and per address (domain/moderation.py), and
moderators get the first report of a message as `report_filed` and the later ones only as its
count: `report_count`, at most one per message every `every` seconds, the latest count last.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rpschat.domain.ports import Runtime

REPORT_COUNT_SECONDS = 5.0


class ReportCounts:
    """Sends `send(message_id, reports)` at once for a message not counted lately, else once
    the period is over, with the latest count (one timer per message counted lately)."""

    def __init__(
        self,
        runtime: Runtime,
        send: Callable[[int, int], None],
        every: float = REPORT_COUNT_SECONDS,
    ):
        self._runtime = runtime
        self._send = send
        self._every = every
        self._lock = threading.Lock()
        # message id -> the count to send when its period ends (None: nothing new)
        self._waiting: dict[int, int | None] = {}

    def counted(self, message_id: int, reports: int) -> None:
        with self._lock:
            if message_id in self._waiting:
                previous = self._waiting[message_id]
                self._waiting[message_id] = max(reports, previous or 0)
                return
            self._waiting[message_id] = None
        self._send(message_id, reports)
        self._runtime.call_later(self._every, self._period_over, message_id)

    def _period_over(self, message_id: int) -> None:
        with self._lock:
            reports = self._waiting.pop(message_id, None)
            if reports is not None:
                self._waiting[message_id] = None  # a new period starts with this send
        if reports is None:
            return
        try:
            self._send(message_id, reports)
        finally:
            self._runtime.call_later(self._every, self._period_over, message_id)
