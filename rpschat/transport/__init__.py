"""The transport: python-engineio's WebSocket path under eventlet, made fast and lean.

- `install` (install.py): the one place where a library is patched; PATCHES and RELIES_ON list
  every patch point and the library code it relies on (docs/transport.md: why, and the figure
  each earns);
- `serve` (server.py, imported by itself: it needs eventlet): eventlet's WSGI server, able to
  hand a request's socket over;
- websocket.py: WebSockets that hold no green thread while idle (RFC 6455 closing included);
- writer.py: frames sent once per event-loop pass, slow readers dropped;
- frames.py: RFC 6455 frames, pure; engine.py: engineio's Socket glue and the lean environ;
- pinger.py: one heartbeat task for every connection;
- gate.py: every Engine.IO session bounded from its handshake, bad packets refused;
- guard.py: WSGI checks in front of Engine.IO; polling.py: Engine.IO v4 where python-engineio
  differs (long-polling, a second WebSocket for a session);
- process.py: file limit, graceful SIGTERM.

Imports go one way: install -> websocket -> (server, writer, engine, frames); nothing imports
install but the application (polling imports websocket only when it refuses a WebSocket).
"""

from rpschat.transport.guard import TransportGuard, session_closer
from rpschat.transport.install import SessionLimits, Transport, install
from rpschat.transport.polling import PollingGuard

__all__ = [
    "PollingGuard",
    "SessionLimits",
    "Transport",
    "TransportGuard",
    "install",
    "session_closer",
]
