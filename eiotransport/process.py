"""Process-level concerns of the server: file limits and a graceful SIGTERM."""

from __future__ import annotations

import logging
import os
import resource
import signal

log = logging.getLogger("eiotransport")

SHUTDOWN_NOTICE = {"reconnect_in_ms": 1000}


def raise_open_file_limit() -> int:
    """Every connection is a file descriptor: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.warning("could not raise the open file limit above %d", soft)
    return soft


def graceful_shutdown_on_sigterm(listener, socketio, services) -> None:
    """On SIGTERM: stop accepting, tell clients, commit what is queued, then exit."""
    import eventlet

    def shut_down():
        log.info("SIGTERM: shutting down")
        try:
            listener.close()
        except OSError:
            pass
        socketio.emit("server_shutdown", SHUTDOWN_NOTICE)
        services.close()  # drains the history writer: every accepted message is committed
        eventlet.sleep(0.3)  # lets the acks and the notice reach the sockets
        logging.shutdown()
        os._exit(0)

    requested: list[bool] = []

    def watch():
        # A signal handler can't wake eventlet's hub from a long epoll wait, so a task looks
        # at the flag a few times a second instead.
        while not requested:
            eventlet.sleep(0.2)
        shut_down()

    signal.signal(signal.SIGTERM, lambda *_: requested.append(True))
    eventlet.spawn_n(watch)


# Descriptors the process needs besides its connections: the listener, the database and Redis
# pools, logs, the message queue, eventlet's hub, a connection being accepted. Measured: about
# 20 open at start-up; the rest is room for pools that grow under load.
RESERVED_DESCRIPTORS = 64


def open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux: assume a few
        return 16


def connection_budget(max_connections: int, file_limit: int) -> int:
    """MAX_CONNECTIONS, lowered (with a warning) to what the open file limit leaves: every
    connection is a descriptor, and a process that runs out of them can't accept, not even the
    health check."""
    room = file_limit - max(open_descriptors(), 0) - RESERVED_DESCRIPTORS
    allowed = max(1, room)
    if max_connections > allowed:
        log.warning(
            "MAX_CONNECTIONS=%d is more than the open file limit (%d) allows: using %d. Raise "
            "the limit (ulimit -n, LimitNOFILE=) to serve more.",
            max_connections,
            file_limit,
            allowed,
        )
        return allowed
    return max_connections
