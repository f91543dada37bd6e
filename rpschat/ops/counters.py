"""The transport's counts, kept where its hottest path can reach them for the price of an integer
addition: no import of prometheus_client or anything else, no lock (one event loop, one OS
thread). rpschat.ops.metrics exports them as rpschat_deliveries_total and
rpschat_slow_consumers_dropped_total."""

from __future__ import annotations


class Tally:
    """`tally.value += 1` and nothing else; `wired` says some code counts into it (an unwired
    tally is not exported: a counter stuck at 0 would say "nothing sent", not "not counted")."""

    __slots__ = ("value", "wired")

    def __init__(self) -> None:
        self.value = 0
        self.wired = False


# Engine.IO packets handed to a long-polling connection; WebSocket frames are counted by the
# transport's writer loop (Loop.frames_written), and the two are exported as one.
frames_sent = Tally()
slow_consumers_dropped = Tally()  # connections closed because they stopped reading
