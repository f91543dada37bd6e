"""The two implementations of the domain's `Runtime` (domain/ports.py): eventlet and threads.

Domain and storage code take a `Runtime` instead of importing eventlet, so the async mode stays
swappable and unit tests run on plain threads.
"""

from __future__ import annotations

import queue
import threading
import time


class ThreadingRuntime:
    """Plain threads: for the test client and for `async_mode='threading'`."""

    def spawn(self, fn, *args):
        thread = threading.Thread(target=fn, args=args, daemon=True)
        thread.start()
        return thread

    def call_later(self, seconds, fn, *args):
        timer = threading.Timer(max(0.0, seconds), fn, args)
        timer.daemon = True
        timer.start()
        return timer

    def defer(self, fn, *args):
        return fn(*args)

    def sleep(self, seconds):
        time.sleep(seconds)

    def event(self):
        return threading.Event()

    def queue(self):
        return queue.Queue()

    def run_blocking(self, fn, *args):
        return fn(*args)

    def now(self):
        return time.time()


class EventletRuntime:
    """Green threads; blocking C calls (database drivers) run in eventlet's OS thread pool."""

    def __init__(self):
        import eventlet
        import eventlet.event  # noqa: F401
        import eventlet.hubs
        import eventlet.queue
        import eventlet.tpool

        self._eventlet = eventlet
        self._tpool = eventlet.tpool
        self._hubs = eventlet.hubs
        self._queue_cls = eventlet.queue.LightQueue

    def spawn(self, fn, *args):
        return self._eventlet.spawn(fn, *args)

    def call_later(self, seconds, fn, *args):
        # A hub timer, not spawn_after: cancelling a GreenThread switches tasks, a Timer's
        # cancel() only marks it. The task starts when the timer fires.
        hub = self._hubs.get_hub()
        return hub.schedule_call_global(max(0.0, seconds), self._eventlet.spawn_n, fn, *args)

    def defer(self, fn, *args):
        return self._eventlet.spawn_n(fn, *args)

    def sleep(self, seconds):
        self._eventlet.sleep(seconds)

    def event(self):
        # threading.Event is green once eventlet has monkey-patched, and it has `is_set`
        return threading.Event()

    def queue(self):
        return self._queue_cls()

    def run_blocking(self, fn, *args):
        return self._tpool.execute(fn, *args)

    def now(self):
        return time.time()
