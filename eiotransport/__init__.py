"""eiotransport: python-engineio's WebSocket path under eventlet, made fast and lean, for any
python-socketio / Flask-SocketIO application (it imports nothing of one; docs/transport.md).

An application uses it through this face only:
- `install(server, ...)` (install.py): the one place where a library is patched; PATCHES and
  RELIES_ON list every patch point and the library code it relies on;
- `counts(server)`: what it counted (packets sent, slow consumers dropped), for metrics;
- `SessionLimits`, `Transport`, `Counts` (options.py); the WSGI middlewares `TransportGuard`,
  `session_closer` (guard.py) and `PollingGuard` (polling.py);
- `eiotransport.server.serve` and `eiotransport.process` (imported by themselves: they need
  eventlet): eventlet's WSGI server able to hand a request's socket over; file limit, SIGTERM.

Inside: websocket.py (WebSockets that hold no green thread while idle, RFC 6455 closing),
writer.py (frames sent once per event-loop pass, slow readers dropped), frames.py (RFC 6455
frames, pure), engine.py (engineio's Socket glue, the lean environ), pinger.py (one heartbeat
task for every connection), gate.py (every session bounded from its handshake), counters.py.
Imports go one way: install -> websocket -> (server, writer, engine, frames) -> options.
"""

from eiotransport.guard import TransportGuard, session_closer
from eiotransport.install import counts, install
from eiotransport.options import Counts, SessionLimits, Transport
from eiotransport.polling import PollingGuard

__all__ = [
    "Counts",
    "PollingGuard",
    "SessionLimits",
    "Transport",
    "TransportGuard",
    "counts",
    "install",
    "session_closer",
]
