"""`install()`: the one place where the transport patches a library.

Every patch point is in PATCHES (and in docs/transport.md's table, with the figure it earns);
RELIES_ON lists the library code each one was written against, with a hash of its source, and
tests/unit/test_patch_guard.py fails, naming the library and version, when any of it changes.
"""

from __future__ import annotations

import engineio.payload
from engineio.socket import Socket

from eiotransport import counters, engine, gate, pinger
from eiotransport.options import Counts, SessionLimits, Transport
from eiotransport.writer import Loop

# python-engineio drops a whole long-polling POST that carries more than 16 packets, silently:
# the official client batches what a user sends while a poll is out (20 quick messages are 19
# in one POST). The frame size limit bounds a POST's work instead.
MAX_PACKETS_PER_POST = 10_000

# The kernel's send buffer of a WebSocket (Linux doubles it: 128 KiB). Left to autotuning it
# grows to 4 MiB, which a client that stops reading fills before MAX_BACKLOG_BYTES even starts
# to count; fixed, "a client is dropped once this much waits for it" holds to within it.
SEND_BUFFER_BYTES = 64 * 1024

# patch group -> what it replaces (docs/transport.md has the why and the figures)
PATCHES = {
    "websocket": (
        "engineio.socket.Socket._upgrade_websocket",  # detached WebSockets
        "engineio.socket.Socket.send",  # FrameWriter, frames shared by a broadcast
        "engineio.socket.Socket.close",  # close after the FrameWriter has flushed
    ),
    "pinger": (
        "engineio.socket.Socket.schedule_ping",  # one heartbeat task for every connection
        "engineio.server.Server.start_service_task",  # (= monitor_clients=False)
    ),
    "lean_environ": ("engineio.server.Server.handlers['connect']",),  # via the public eio.on
    "polling_batches": ("engineio.payload.Payload.max_decode_packets",),
    "handshake": ("engineio.socket.Socket.__init__",),  # pingInterval in ms, not whole seconds
    "session_gate": (  # via the public eio.on; gate.py
        "engineio.server.Server.handlers['connect']",  # sessions per address, CONNECT timeout
        "engineio.server.Server.handlers['message']",  # binary and malformed packets refused
        "engineio.server.Server.handlers['disconnect']",
        "engineio.socket.Socket.queue",  # long-polling's queue bounded in bytes
    ),
}

# The pinned versions the patches were written against, by the module each library provides.
WRITTEN_AGAINST = {
    "engineio": ("python-engineio", "4.15.1"),
    "socketio": ("python-socketio", "5.18.1"),
    "eventlet": ("eventlet", "0.41.3"),
}

# Library code a patch replaces, copies the behaviour of, subclasses or calls into:
# dotted name -> (sha256 of its inspect.getsource, first 12 hex digits; patch group).
RELIES_ON = {
    "engineio.socket.Socket.send": ("f8b2738ee5d4", "websocket"),
    "engineio.socket.Socket.close": ("05fac5583199", "websocket"),
    "engineio.socket.Socket.check_ping_timeout": ("ccddc110d983", "websocket"),
    "engineio.socket.Socket.handle_get_request": ("d45c0d8f9884", "websocket"),
    "engineio.socket.Socket._upgrade_websocket": ("02f6ac054416", "websocket"),
    "engineio.socket.Socket._websocket_handler": ("58afe1227192", "websocket"),
    "engineio.socket.Socket.receive": ("4126eb2537d0", "websocket"),
    "engineio.server.Server.handle_request": ("79302edd007f", "websocket"),
    "engineio.server.Server._handle_connect": ("049f7c2b2c23", "pinger, handshake"),
    "engineio.base_socket.BaseSocket.__init__": ("8532b631a4dc", "handshake"),
    "engineio.base_server.BaseServer._bad_request": ("af66afac6f6c", "websocket"),
    "engineio.socket.Socket.schedule_ping": ("fe316639159c", "pinger"),
    "engineio.socket.Socket._send_ping": ("21861287bd38", "pinger"),
    "engineio.server.Server._service_task": ("9492b7b0d652", "pinger"),
    "engineio.payload.Payload.decode": ("9c7975664d81", "polling_batches"),
    "socketio.server.Server._handle_eio_connect": ("4be135c046ed", "lean_environ"),
    "eventlet.wsgi.HttpProtocol.__init__": ("ef058c1de18a", "websocket"),
    "eventlet.wsgi.HttpProtocol.get_environ": ("b8865250e21c", "websocket"),
    "eventlet.wsgi.HttpProtocol.finish": ("d23530dd4e6a", "websocket"),
    "eventlet.wsgi.HttpProtocol._read_request_line": ("b03b4ae076ef", "websocket"),
    "eventlet.wsgi.HttpProtocol.handle_one_response": ("b2ae04db91bb", "websocket"),
    "eventlet.wsgi.Server.process_request": ("9935bc04bba3", "websocket"),
    "eventlet.greenpool.GreenPool._spawn_done": ("b98933ddeef5", "websocket"),
    "eventlet.hubs.hub.BaseHub.add": ("5aa4447a94d4", "websocket"),
    "eventlet.hubs.trampoline": ("dbb09fcd0085", "websocket"),
    "eventlet.greenpool.GreenPool.__init__": ("2693b14d2509", "websocket"),
    "eventlet.hubs.hub.BaseHub.remove": ("7af6377b6ec9", "websocket"),
    "eventlet.hubs.hub.BaseHub.schedule_call_global": ("b2a6d8872158", "websocket"),
    "eventlet.hubs.hub.FdListener.__init__": ("2c78b3f6e712", "websocket"),
    "socketio.server.Server._handle_eio_message": ("65f309c138d6", "session_gate"),
    "socketio.server.Server._handle_eio_disconnect": ("5c0002fcdb35", "session_gate"),
    "socketio.base_manager.BaseManager.sid_from_eio_sid": ("15467098a36b", "session_gate"),
    "engineio.socket.Socket.poll": ("d7d705066fd3", "session_gate"),
    "engineio.server.Server._trigger_event": ("bc536417c304", "session_gate"),
}


NO_SESSION_LIMITS = SessionLimits()  # the session_gate with every limit off


def choose_patches(spec: str, compression: bool) -> tuple[str, ...]:
    """`spec`: "all", or names of PATCHES to apply, or "-name" to apply all but those
    (benchmarks measure each patch alone this way). WebSocket compression rules out the
    `websocket` group: detached connections don't speak permessage-deflate."""
    names = [n.strip() for n in spec.split(",") if n.strip() and n.strip() != "all"]
    unknown = {n.lstrip("-") for n in names} - set(PATCHES)
    if unknown:
        raise ValueError(f"unknown transport patches {sorted(unknown)}; known: {list(PATCHES)}")
    if not names or all(n.startswith("-") for n in names):
        chosen = [p for p in PATCHES if f"-{p}" not in names]
    else:
        chosen = [p for p in PATCHES if p in names]
    if compression:
        chosen = [p for p in chosen if p != "websocket"]
    return tuple(chosen)


def install(
    server,
    *,
    max_backlog_bytes: int,
    compression: bool = False,
    send_buffer_bytes: int = SEND_BUFFER_BYTES,
    patches: str = "all",
    sessions: SessionLimits = NO_SESSION_LIMITS,
) -> Transport:
    """Patch python-engineio (and read eventlet's hub) for `server`, a socketio.Server running
    under eventlet, only there; serve it with `eiotransport.serve`. Returns the Transport.

    - websocket: WebSockets hold no green thread (websocket.py), and sends go straight to the
      socket through a FrameWriter, one `send` per connection per event-loop pass (writer.py);
    - pinger: one heartbeat task instead of a green thread per connection (pinger.py);
    - lean_environ: sessions keep a lean copy of their WSGI environ (engine.py);
    - polling_batches: long-polling POSTs may carry more than 16 packets;
    - handshake: the OPEN packet advertises the heartbeat in exact milliseconds (engine.py);
    - session_gate: every Engine.IO session bounded from its handshake (`sessions`: per
      address, a CONNECT timeout; long-polling queues by `max_backlog_bytes`), binary and
      malformed packets refused (gate.py).

    Measured with 10,000 idle socket.io clients (bench/run.py capacity), the first three took
    the server's memory per client from about 55 KB to about 4 KB (Node's Socket.IO server:
    about 17 KB); docs/transport.md has each one's figure."""
    import eventlet
    import eventlet.hubs

    from eiotransport import websocket  # eventlet's WSGI server and hub: imported here

    chosen = choose_patches(patches, compression)
    eio = server.eio
    hub = eventlet.hubs.get_hub()
    loop = Loop(
        spawn=eventlet.spawn_n,
        call_soon=lambda fn: hub.schedule_call_global(0, fn),
        wait_writable=_wait_writable,
        on_overflow=engine.drop_slow_consumer,
        write_timeout=eio.ping_interval + eio.ping_timeout,
    )
    transport = Transport(
        loop=loop,
        max_backlog_bytes=max_backlog_bytes,
        send_buffer_bytes=send_buffer_bytes,
        detached="websocket" in chosen,
        pinger=None,
        patches=chosen,
    )
    eio.eiotransport = transport

    if "websocket" in chosen:
        # Each falls back to engineio's own method on a server or socket without the transport.
        Socket.send = engine.send
        Socket.close = engine.close
        Socket._upgrade_websocket = websocket.upgrade_websocket
    if "pinger" in chosen:
        transport.pinger = pinger.Pinger(
            eio, spawn=eventlet.spawn_n, event_factory=eio.create_event
        )
        Socket.schedule_ping = pinger.schedule_ping
        eio.start_service_task = False  # the Pinger checks timeouts and reaps closed sockets
    if "lean_environ" in chosen:
        engine.keep_lean_environ(eio)
    if "polling_batches" in chosen:
        engineio.payload.Payload.max_decode_packets = MAX_PACKETS_PER_POST
    if "handshake" in chosen:
        Socket.__init__ = engine.init
    if "session_gate" in chosen:
        transport.gate = gate.SessionGate(
            eio,
            address_of=sessions.address_of,
            per_address=sessions.per_address,
            connect_timeout=sessions.connect_timeout,
            max_queue_bytes=max_backlog_bytes,
            max_attachments=sessions.max_attachments,
            max_attachment_bytes=int(eio.max_http_buffer_size),
            is_connected=lambda sid: server.manager.sid_from_eio_sid(sid, "/") is not None,
            call_later=lambda seconds, fn, *args: hub.schedule_call_global(
                seconds, eventlet.spawn_n, fn, *args
            ),
            spawn=eventlet.spawn_n,
        ).install()
    return transport


def _wait_writable(sock, timeout: float) -> None:
    import eventlet.hubs

    eventlet.hubs.trampoline(
        sock, write=True, timeout=timeout, timeout_exc=TimeoutError("write timed out")
    )


def counts(server) -> Counts | None:
    """What the transport counted (Counts), for `server` as install() left it; None if install()
    did not run for it. The application's metrics read the transport through this alone."""
    transport = server.eio.__dict__.get("eiotransport")
    if transport is None:
        return None
    patches = transport.patches
    return Counts(
        packets_sent=counters.frames_sent.value + transport.loop.frames_written
        if "websocket" in patches
        else None,
        slow_consumers_dropped=counters.slow_consumers_dropped.value
        if "websocket" in patches or "session_gate" in patches
        else None,
    )
