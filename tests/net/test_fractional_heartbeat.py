"""PING_INTERVAL and PING_TIMEOUT in fractions of a second are advertised, and kept, exactly."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.clients import run_js
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net


@pytest.fixture(scope="module")
def server():
    # Fractions a truncation changes, with 0.9 s of slack for a busy machine: a ping is due
    # within 1.9 s of the last and answered within 0.9 s.
    with ServerProcess(env={"PING_INTERVAL": "1.9", "PING_TIMEOUT": "0.9"}) as srv:
        yield srv


def test_the_handshake_advertises_milliseconds(server):
    opened = requests.get(f"{server.url}/socket.io/?EIO=4&transport=polling", timeout=5)
    handshake = json.loads(opened.text[1:])
    # python-engineio alone says int(1.9) * 1000 = 1000 and int(0.9) * 1000 = 0
    assert (handshake["pingInterval"], handshake["pingTimeout"]) == (1900, 900)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_the_official_client_stays_connected_across_heartbeats(server, node, transport):
    # The client expects a ping within pingInterval + pingTimeout of the last one: told
    # 1000 + 0 ms, it gives up 1 s after each ping, well before the next one comes (1.9 s).
    report = run_js(
        {
            "url": server.url,
            "clients": {"a": {"transports": [transport]}},
            "steps": [
                {"connect": "a"},
                {"sleep": 4500},  # two heartbeats
                {"call": "users", "client": "a", "data": {}, "save": "users"},
            ],
        }
    )
    assert report["saved"]["users"]["ok"] is True
    # (the scenario's own end is the only disconnect: no "ping timeout")
    disconnects = [e for e in report["events"]["a"] if e[0] == "disconnect"]
    assert disconnects in ([], [["disconnect", "io client disconnect"]])
