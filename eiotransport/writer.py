"""Writing WebSocket frames without a writer green thread per connection.

python-engineio hands every outgoing packet to a per-connection queue, wakes a writer green
thread for it, and that thread frames and writes one packet at a time. In a broadcast to N
clients that is N queue hand-offs, N green-thread switches and N framings of identical bytes:
about 70 % of the server's CPU under fan-out. Here instead a frame is written straight to the
socket with a non-blocking `send`, once per pass of the event loop; only what the kernel does
not take is buffered, and a green thread to flush it is started only then and ends when the
buffer is empty, so idle connections carry no writer thread at all. A client whose unsent
backlog passes `max_backlog_bytes` (it stopped reading) is dropped instead of growing the
server's memory and delaying everyone else.

`Loop` is what the writers need from the event loop (eventlet's, bound by `install()`; tests
pass fakes); `FrameWriter` is one connection's writer.
"""

from __future__ import annotations

from collections.abc import Callable


class Loop:
    """The event loop as the writers see it, and the writers given frames in this pass.

    `spawn(fn, *args)` starts a task nobody waits for; `call_soon(fn)` runs `fn` at the end of
    the current pass; `wait_writable(sock, timeout)` parks the current task until `sock` takes
    bytes (raising TimeoutError after `timeout`); `on_overflow(owner)` drops a slow consumer."""

    __slots__ = (
        *("spawn", "call_soon", "wait_writable", "write_timeout", "on_overflow"),
        *("_written", "frames_written"),
    )

    def __init__(
        self,
        spawn: Callable,
        call_soon: Callable,
        wait_writable: Callable,
        on_overflow: Callable,
        write_timeout: float = 45.0,
    ):
        self.spawn = spawn
        self.call_soon = call_soon
        self.wait_writable = wait_writable
        self.on_overflow = on_overflow
        self.write_timeout = write_timeout  # a client that takes no bytes this long is gone
        self._written: list[FrameWriter] = []
        # Frames handed to the kernel (or to a flusher task), one per recipient of each packet:
        # the place for a deliveries metric. A plain int, added to once per send, not per frame.
        self.frames_written = 0

    def flush_written(self) -> None:
        """End of the pass: every writer given frames sends them, in one `send` each."""
        writers = self._written[:]
        self._written.clear()
        for writer in writers:
            writer.send_pending()


class FrameWriter:
    """Writes frames to one client's socket without blocking the caller.

    Frames written during one pass of the event loop are sent together when the pass ends: a
    handler's ack and the event after it, or the messages of several senders read in the same
    pass, leave in one `send`. The server sets TCP_NODELAY, so this batching is what keeps
    small writes from each costing a TCP segment of their own.

    `closed`: no more frames are taken; what was already written still goes out (a PONG
    written just before the client's CLOSE is answered). `abort()` drops that too."""

    __slots__ = (
        *("_raw", "loop", "_pending", "_pending_bytes", "_flushing", "closed"),
        *("_limit", "_owner", "_close_when_flushed", "_aborted"),
    )

    def __init__(self, raw_socket, loop: Loop, max_backlog_bytes: int, owner=None):
        self._raw = raw_socket  # a real, non-blocking socket (not eventlet's wrapper)
        self.loop = loop
        self._pending: list = []
        self._pending_bytes = 0
        self._flushing = False
        self._close_when_flushed: Callable[[], None] | None = None
        self._limit = max_backlog_bytes
        self._owner = owner  # handed to loop.on_overflow when the backlog overflows
        self.closed = False
        self._aborted = False

    def write(self, frame: bytes) -> None:
        # The hot path: once per recipient of every packet. (Counting happens per send.)
        if self.closed:
            return
        pending = self._pending
        if not pending and not self._flushing:
            loop = self.loop
            written = loop._written
            written.append(self)
            if len(written) == 1:
                loop.call_soon(loop.flush_written)
        pending.append(frame)
        self._pending_bytes += len(frame)
        if self._pending_bytes > self._limit:
            self._overflow()

    def send_pending(self) -> None:
        """Send what was written; a green thread waits out what the kernel does not take."""
        if self._flushing or self._aborted or not self._pending:
            return
        self.loop.frames_written += len(self._pending)
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        try:
            sent = self._raw.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.abort()  # the peer is gone; the reader side notices and cleans up
            return
        if sent < len(data):
            self._buffer(memoryview(data)[sent:])
            if not self._aborted:
                self._flushing = True
                self.loop.spawn(self._flush)

    def _buffer(self, data) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes > self._limit:
            self._overflow()

    def _overflow(self) -> None:
        self.abort()
        self.loop.spawn(self.loop.on_overflow, self._owner)

    def _flush(self) -> None:
        loop = self.loop
        counted = 1  # the rest of send_pending's data, counted there
        try:
            while self._pending and not self._aborted:
                loop.frames_written += len(self._pending) - counted
                counted = 0
                data = memoryview(b"".join(self._pending))
                self._pending.clear()
                self._pending_bytes = 0
                while data and not self._aborted:
                    try:
                        data = data[self._raw.send(data) :]
                    except BlockingIOError:
                        # Yields to the hub while the client is slow; one that takes no bytes
                        # for a whole heartbeat is gone (as engineio's blocking writer had it).
                        loop.wait_writable(self._raw, loop.write_timeout)
        except OSError:  # TimeoutError included
            self.abort()
        finally:
            self._flushing = False
            if self._close_when_flushed is not None:
                close, self._close_when_flushed = self._close_when_flushed, None
                close()

    def close_after_flush(self, close: Callable[[], None]) -> None:
        """Take no more frames; run `close` once everything already written has gone out."""
        self.closed = True
        self.send_pending()
        if self._flushing:
            self._close_when_flushed = close
        else:
            close()

    def abort(self) -> None:
        """Take no more frames and drop what is waiting (the socket is gone or going)."""
        self.closed = True
        self._aborted = True
        self._pending.clear()
        self._pending_bytes = 0
