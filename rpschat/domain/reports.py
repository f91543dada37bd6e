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
from dataclasses import dataclass

from rpschat.domain.errors import Code, Refused
from rpschat.domain.moderation import clean_reason
from rpschat.domain.ports import (
    Callers,
    HistoryStore,
    Limits,
    ModerationStore,
    NamedConnection,
    Outbox,
    Posting,
    RateLimiter,
    RoleChecks,
    Runtime,
    user_room,
)
from rpschat.domain.ratelimit import RateSpec
from rpschat.domain.roles import MODERATOR

REPORT_COUNT_SECONDS = 5.0
MAX_OPEN_REPORTS = 500  # report rows mod_reports reads


@dataclass
class Reports:
    """`report`: anyone named and not muted files a report of a message, once."""

    callers: Callers
    limits: Limits
    posting: Posting  # a muted user reports nothing
    limiter: RateLimiter  # reports per user and per address
    runtime: Runtime
    history: HistoryStore
    store: ModerationStore
    roles: RoleChecks  # who hears of reports: the moderators, read when one is filed
    outbox: Outbox
    # reports per user and per address (REPORT_RATE, REPORT_RATE_PER_IP); None: no limit
    rate: RateSpec | None = RateSpec(5, 60.0)
    rate_per_address: RateSpec | None = RateSpec(20, 60.0)

    def __post_init__(self) -> None:
        self._counts = ReportCounts(self.runtime, self._tell_count)

    def report(self, sid: str, message_id: int, reason: str | None) -> bool:
        """Files a report of the message (the reason is optional); False if this user had
        reported it already (nothing changes). Moderators hear of each message once, then of
        its count."""
        reason = "" if reason is None else clean_reason(reason)
        conn = self.callers.named(sid)
        self.posting.check_can_post(conn)
        self.limits.limit(conn, "other")
        self._limit(conn)
        message = self.history.get(message_id)
        if message is None:
            raise Refused(Code.NO_SUCH_MESSAGE, "No such message.")
        now_ms = int(self.runtime.now() * 1000)
        filed = self.store.report(conn.user_id, conn.name, message_id, reason, now_ms)
        if filed is None:
            return False
        report_id, reports = filed
        if reports > 1:
            self._counts.counted(message_id, reports)
            return True
        report = {"id": report_id, "message_id": message_id, "name": message.name,
                  "txt": message.text, "reporter": conn.name, "reason": reason,
                  "reports": reports}  # fmt: skip
        self._tell_moderators("report_filed", report)
        return True

    def mod_reports(self, sid: str) -> list[dict[str, object]]:
        """The open reports, one entry per message, newest first: the message (or that it is
        gone), how many reported it, and who and why."""
        self._moderator(sid)
        by_message: dict[int, dict[str, object]] = {}
        for row in self.store.open_reports(MAX_OPEN_REPORTS):
            entry = by_message.get(row["message_id"])
            if entry is None:
                message = self.history.get(row["message_id"])
                entry = by_message[row["message_id"]] = {
                    "message_id": row["message_id"],
                    "name": message.name if message else None,
                    "txt": message.text if message else None,
                    "deleted": message is None, "reports": 0, "reasons": [], "ts": row["ts"],
                }  # fmt: skip
            entry["reports"] = int(str(entry["reports"])) + 1
            reasons = entry["reasons"]
            assert isinstance(reasons, list)
            reasons.append({"reporter": row["name"], "reason": row["reason"]})
        return list(by_message.values())

    def mod_resolve(self, sid: str, message_id: int) -> int:
        """Closes the open reports of the message (whatever was done about it); every
        moderator's list drops it (`report_resolved`)."""
        conn = self._moderator(sid)
        now_ms = int(self.runtime.now() * 1000)
        resolved = self.store.resolve_reports(message_id, now_ms)
        if not resolved:
            raise Refused(Code.NO_SUCH_MESSAGE, "No open report of that message.")
        self.store.audit(
            conn.name, "resolve", f"#{message_id}: {resolved} reports", None, None, now_ms
        )
        self._tell_moderators("report_resolved", {"message_id": message_id, "by": conn.name})
        return resolved

    def _moderator(self, sid: str) -> NamedConnection:
        conn = self.callers.named(sid)
        self.limits.limit(conn, "other")
        if not self.roles.has(conn.user_id, MODERATOR):
            raise Refused(Code.NOT_MODERATOR, "Only moderators can do that.")
        return conn

    def _limit(self, conn: NamedConnection) -> None:
        now = self.runtime.now()
        try:
            self.limiter.check(f"report:{conn.user_id}", "report", self.rate, now)
            by_address = self.rate_per_address
            self.limiter.check(f"report@{conn.address}", "report_address", by_address, now)
        except Refused as refused:
            if refused.code is not Code.RATE_LIMITED:  # Redis is down, say: not the caller's
                raise
            wait = refused.details["retry_after"]
            raise Refused(
                Code.RATE_LIMITED, f"Too many reports: wait {wait:.1f} s.", retry_after=wait
            ) from None

    def _tell_count(self, message_id: int, reports: int) -> None:
        self._tell_moderators("report_count", {"message_id": message_id, "reports": reports})

    def _tell_moderators(self, event: str, data: dict[str, object]) -> None:
        """To every connection of every moderator, on every node: the role holders read now,
        so a moderator whose role went (revoked, or its name released) hears nothing more."""
        rooms = [user_room(user_id) for user_id in self.roles.holders(MODERATOR)]
        if rooms:
            self.outbox.emit(event, data, to=rooms)


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
