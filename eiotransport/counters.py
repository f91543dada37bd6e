"""The transport's own counts, kept where its hottest path can reach them for the price of an
integer addition: no import of anything, no lock (one event loop, one OS thread). They count for
the whole process (install() patches engineio's classes, not one server); an application reads
them through `eiotransport.counts(server)`, never from here."""

from __future__ import annotations


class Tally:
    """`tally.value += 1` and nothing else."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


# Engine.IO packets handed to a long-polling connection; WebSocket frames are counted by the
# writer loop (Loop.frames_written), and counts() adds the two.
frames_sent = Tally()
slow_consumers_dropped = Tally()  # connections closed because they stopped reading or polling
