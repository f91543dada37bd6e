"""FrameWriter: frames of one event-loop pass leave in one send; a slow reader is buffered,
then dropped past the backlog limit; closing sends what was written first."""

import pytest

from eiotransport.writer import FrameWriter, Loop


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


class FakeLoop(Loop):
    """Stands in for eventlet: records scheduled flushes, spawned tasks and dropped owners."""

    __slots__ = ("scheduled", "spawned", "dropped")

    def __init__(self):
        super().__init__(
            spawn=lambda fn, *args: self.spawned.append((fn, args)),
            call_soon=lambda fn: self.scheduled.append(fn),
            wait_writable=lambda sock, timeout: None,
            on_overflow=lambda owner: self.dropped.append(owner),
        )
        self.scheduled, self.spawned, self.dropped = [], [], []


@pytest.fixture
def loop():
    return FakeLoop()


def test_frames_of_one_pass_leave_in_one_send(loop):
    sock = FakeSocket()
    writer = FrameWriter(sock, loop, 1 << 20)
    for frame in (b"ack", b"event", b"another"):
        writer.write(frame)
    assert sock.sends == [] and loop.scheduled == [loop.flush_written]  # not before the pass ends
    loop.flush_written()
    assert sock.sends == [b"ackeventanother"]
    assert loop.frames_written == 3


def test_every_written_socket_is_flushed_once_per_pass(loop):
    sockets = [FakeSocket() for _ in range(3)]
    writers = [FrameWriter(s, loop, 1 << 20) for s in sockets]
    for writer in writers:
        writer.write(b"broadcast")
    assert len(loop.scheduled) == 1
    loop.flush_written()
    assert [s.sends for s in sockets] == [[b"broadcast"]] * 3


def test_what_the_kernel_refuses_is_left_to_a_flusher_task(loop):
    sock = FakeSocket(accept=4)
    writer = FrameWriter(sock, loop, 1 << 20)
    writer.write(b"0123456789")
    loop.flush_written()
    assert sock.sends == [b"0123"]
    assert [fn for fn, _ in loop.spawned] == [writer._flush]
    writer.write(b"more")  # while the flusher waits
    writer._flush()
    assert b"".join(sock.sends) == b"0123456789more"
    assert loop.frames_written == 2


def test_a_reader_that_stops_is_dropped_past_the_backlog_limit(loop):
    sock = FakeSocket(accept=0)
    writer = FrameWriter(sock, loop, 100, owner="the session")
    writer.write(b"x" * 60)
    loop.flush_written()
    writer.write(b"y" * 60)  # 120 bytes waiting: over the limit
    assert writer.closed
    assert (loop.on_overflow, ("the session",)) in loop.spawned


def test_closing_sends_what_was_written_before_it_and_nothing_after(loop):
    sock = FakeSocket()
    writer = FrameWriter(sock, loop, 1 << 20)
    writer.write(b"pong")  # e.g. the answer to a PING read just before the client's CLOSE
    closed = []
    writer.close_after_flush(lambda: closed.append(b"".join(sock.sends)))
    assert closed == [b"pong"]
    writer.write(b"late")
    loop.flush_written()
    assert sock.sends == [b"pong"]


def test_closing_while_a_flusher_waits_closes_once_it_is_done(loop):
    sock = FakeSocket(accept=4)
    writer = FrameWriter(sock, loop, 1 << 20)
    writer.write(b"0123456789")
    loop.flush_written()
    closed = []
    writer.close_after_flush(lambda: closed.append(True))
    assert closed == []
    writer._flush()  # the flusher task
    assert closed == [True] and b"".join(sock.sends) == b"0123456789"
