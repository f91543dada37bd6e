"""FrameWriter: frames of one event-loop pass leave in one send; a slow reader is buffered,
then dropped past the backlog limit."""

import pytest

from rpschat.web import fastpath


class FakeSocket:
    def __init__(self, accept=None):
        self.sends = []
        self.accept = accept  # bytes taken per send; None takes everything

    def send(self, data):
        data = bytes(data)
        taken = len(data) if self.accept is None else min(self.accept, len(data))
        if taken == 0:
            raise BlockingIOError
        self.sends.append(data[:taken])
        return taken


@pytest.fixture
def loop(monkeypatch):
    """Stands in for eventlet: records scheduled flushes and spawned tasks."""
    scheduled, spawned = [], []
    monkeypatch.setattr(fastpath, "_schedule_call", lambda delay, fn: scheduled.append(fn))
    monkeypatch.setattr(fastpath, "_spawn", lambda fn, *args: spawned.append((fn, args)))
    fastpath._written.clear()
    return scheduled, spawned


def test_frames_of_one_pass_leave_in_one_send(loop):
    scheduled, _ = loop
    sock = FakeSocket()
    writer = fastpath.FrameWriter(sock, 1 << 20, session=None)
    for frame in (b"ack", b"event", b"another"):
        writer.write(frame)
    assert sock.sends == [] and len(scheduled) == 1  # nothing sent before the pass ends
    fastpath.flush_written()
    assert sock.sends == [b"ackeventanother"]


def test_every_written_socket_is_flushed_once_per_pass(loop):
    scheduled, _ = loop
    sockets = [FakeSocket() for _ in range(3)]
    writers = [fastpath.FrameWriter(s, 1 << 20, session=None) for s in sockets]
    for writer in writers:
        writer.write(b"broadcast")
    assert len(scheduled) == 1
    fastpath.flush_written()
    assert [s.sends for s in sockets] == [[b"broadcast"]] * 3


def test_what_the_kernel_refuses_is_left_to_a_flusher_task(loop):
    _, spawned = loop
    sock = FakeSocket(accept=4)
    writer = fastpath.FrameWriter(sock, 1 << 20, session=None)
    writer.write(b"0123456789")
    fastpath.flush_written()
    assert sock.sends == [b"0123"]
    assert [fn for fn, _ in spawned] == [writer._flush]


def test_a_reader_that_stops_is_dropped_past_the_backlog_limit(loop):
    _, spawned = loop
    sock = FakeSocket(accept=0)
    writer = fastpath.FrameWriter(sock, 100, session="the session")
    writer.write(b"x" * 60)
    fastpath.flush_written()
    writer.write(b"y" * 60)  # 120 bytes waiting: over the limit
    assert writer.closed
    assert (fastpath.drop_slow_consumer, ("the session",)) in spawned
