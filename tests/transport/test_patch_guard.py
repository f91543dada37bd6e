"""The transport's patches against the pinned libraries: this fails, naming the library and its
version, when anything a patch relies on changes (eiotransport/install.py RELIES_ON and
PATCHES; docs/transport.md says what each patch is for). When it fails after an upgrade: read
the library's change to that code, adapt the patch (or drop it), then update the digest."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from eiotransport import engine, pinger, websocket
from eiotransport.install import PATCHES, RELIES_ON, WRITTEN_AGAINST

ROOT = Path(__file__).resolve().parents[2]

# What install() puts in place, and engineio's method it replaced (read at import)
OURS = {
    engine.send: engine.ENGINEIO_SEND,
    engine.close: engine.ENGINEIO_CLOSE,
    websocket.upgrade_websocket: websocket.ENGINEIO_UPGRADE,
    pinger.schedule_ping: pinger.ENGINEIO_SCHEDULE_PING,
    engine.init: engine.ENGINEIO_INIT,
}


def resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
            break
        except ImportError:
            continue
    for part in parts[i:]:
        obj = getattr(obj, part)
    return OURS.get(obj, obj)  # the library's own, even if install() ran in this process


def library(dotted: str) -> str:
    dist, written_against = WRITTEN_AGAINST[dotted.split(".")[0]]
    return f"{dist} {version(dist)} (the transport was written against {written_against})"


def digest(obj) -> str:
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:12]


@pytest.mark.parametrize("dotted", sorted(RELIES_ON))
def test_library_code_a_patch_relies_on_is_unchanged(dotted):
    expected, patch = RELIES_ON[dotted]
    try:
        obj = resolve(dotted)
    except AttributeError:
        pytest.fail(f"{library(dotted)}: {dotted} is gone; patch {patch!r} relies on it")
    got = digest(obj)
    assert got == expected, (
        f"{library(dotted)}: {dotted} changed (source sha256 {expected} -> {got}); "
        f"patch {patch!r} relies on it: review it (docs/transport.md), then update RELIES_ON"
    )


def test_every_patched_attribute_exists():
    import engineio.payload
    import socketio
    from engineio.socket import Socket

    server = socketio.Server(async_mode="threading")
    found = {
        "engineio.socket.Socket._upgrade_websocket": hasattr(Socket, "_upgrade_websocket"),
        "engineio.socket.Socket.send": hasattr(Socket, "send"),
        "engineio.socket.Socket.close": hasattr(Socket, "close"),
        "engineio.socket.Socket.schedule_ping": hasattr(Socket, "schedule_ping"),
        "engineio.server.Server.start_service_task": isinstance(
            getattr(server.eio, "start_service_task", None), bool
        ),
        "engineio.server.Server.handlers['connect']": callable(
            getattr(server.eio, "handlers", {}).get("connect")
        ),
        "engineio.server.Server.handlers['message']": callable(
            getattr(server.eio, "handlers", {}).get("message")
        ),
        "engineio.server.Server.handlers['disconnect']": callable(
            getattr(server.eio, "handlers", {}).get("disconnect")
        ),
        "engineio.socket.Socket.queue": hasattr(Socket(server.eio, "sid"), "queue"),
        "engineio.socket.Socket.__init__": callable(Socket.__init__),
        "engineio.payload.Payload.max_decode_packets": isinstance(
            getattr(engineio.payload.Payload, "max_decode_packets", None), int
        ),
    }
    targets = [target for group in PATCHES.values() for target in group]
    assert sorted(found) == sorted(set(targets)), "a patch target without a check here"
    missing = [t for t in targets if not found[t]]
    assert not missing, f"{library('engineio')}: patched attributes missing: {missing}"


def test_eventlet_internals_the_websockets_use_exist():
    import eventlet.hubs
    import eventlet.wsgi

    hub = eventlet.hubs.get_hub()
    missing = [
        name
        for name, present in {
            "eventlet.wsgi.WSGI_LOCAL": hasattr(eventlet.wsgi, "WSGI_LOCAL"),
            "hub.READ": hasattr(hub, "READ"),
            "hub.greenlet": hasattr(hub, "greenlet"),
            "GreenPool.sem": hasattr(eventlet.GreenPool(1), "sem"),
        }.items()
        if not present
    ]
    assert not missing, f"{library('eventlet')}: missing {missing}"


def test_every_patch_point_is_in_the_docs_table():
    table = (ROOT / "docs" / "transport.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("|")]
    for group, targets in PATCHES.items():
        for target in targets:
            short = re.sub(r"^(engineio|socketio)\.\w+\.", "", target)
            assert any(short in row and f"`{group}`" in row for row in rows), (
                f"docs/transport.md: no table row for {target} (patch {group!r})"
            )
