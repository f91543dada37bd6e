"""What install() takes and gives: SessionLimits (an option), Transport (what it set up for one
server) and Counts (what it counted). A module of its own so that every part of the transport
can name them without importing install()."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eiotransport.gate import SessionGate
    from eiotransport.pinger import Pinger
    from eiotransport.writer import Loop


@dataclass(frozen=True)
class SessionLimits:
    """The session_gate's limits (gate.py); 0 turns one off."""

    per_address: int = 0  # Engine.IO sessions per client address
    connect_timeout: float = 0.0  # seconds from the handshake to the Socket.IO CONNECT
    address_of: Callable[[dict], str] = field(default=lambda environ: environ.get("REMOTE_ADDR"))
    # binary packets: 0 refuses them (for an application none of whose events takes binary
    # data); else at most this many attachments, of at most max_http_buffer_size bytes together
    max_attachments: int = 0


@dataclass
class Transport:
    """What install() set up for one Socket.IO server (engineio's server holds it as
    `eiotransport`): the event loop for writers, limits, the shared heartbeat."""

    loop: Loop
    max_backlog_bytes: int
    send_buffer_bytes: int
    detached: bool  # WebSockets are served by websocket.DetachedWebSocket
    pinger: Pinger | None
    patches: tuple[str, ...] = field(default=())
    gate: SessionGate | None = None


@dataclass(frozen=True)
class Counts:
    """What the transport counted in this process since it started (`eiotransport.counts`).
    None: not counted, because the patch that counts it is off; that is not 0 (a counter stuck at
    0 would say "nothing sent", not "not counted")."""

    # Engine.IO packets sent to clients: a WebSocket frame each, or a packet handed to a
    # long-polling connection (counted with the `websocket` patch)
    packets_sent: int | None
    # connections closed because they stopped reading (`websocket`) or polling (`session_gate`)
    slow_consumers_dropped: int | None
