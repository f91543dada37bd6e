"""The `handshake` patch: the OPEN packet advertises the heartbeat in exact milliseconds."""

from __future__ import annotations

import json

from engineio.socket import Socket

from eiotransport import engine
from tests.support.rawws import Raw


def test_a_fractional_heartbeat_is_advertised_in_milliseconds(served):
    url, sio = served(ping_interval=0.3, ping_timeout=0.57)
    assert Socket.__init__ is engine.init
    raw = Raw(url)
    try:
        hello = json.loads(raw.text()[1:])
        # python-engineio alone: int(0.3) * 1000 = 0 and int(0.57 * 1000) = 569
        assert (hello["pingInterval"], hello["pingTimeout"]) == (300, 570)
        session = sio.eio.sockets[hello["sid"]]
        assert "send" not in session.__dict__  # Socket.send again after the OPEN packet
    finally:
        raw.close()
