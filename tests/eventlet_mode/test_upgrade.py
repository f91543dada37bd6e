"""The long-polling to WebSocket upgrade, as Engine.IO v4 has it: no stray NOOP over the new
WebSocket, and a second WebSocket for the session accepted and closed at once (1008)."""

from __future__ import annotations

import json

import requests

from tests.eventlet_mode.test_transport import served  # noqa: F401 (fixture)
from tests.support.rawws import Raw


def polling_session(url: str) -> str:
    base = f"{url}/socket.io/?EIO=4&transport=polling"
    sid = json.loads(requests.get(base, timeout=5).text[1:])["sid"]
    assert requests.post(f"{base}&sid={sid}", data="40", timeout=5).status_code == 200
    assert requests.get(f"{base}&sid={sid}", timeout=5).text.startswith("40{")
    return sid


def upgraded(url: str, sid: str) -> Raw:
    """A WebSocket for the session, upgraded with no long-poll pending at the probe."""
    raw = Raw(url, query=f"transport=websocket&sid={sid}")
    assert raw.status == 101
    raw.send("2probe")
    assert raw.text() == "3probe"
    raw.send("5")
    return raw


def test_no_stray_noop_reaches_the_websocket_after_the_upgrade(served):  # noqa: F811
    url, _ = served()
    raw = upgraded(url, polling_session(url))
    try:
        raw.send('421["users",{}]')
        # the NOOP queued at the probe to end a poll (none was pending) used to come first
        assert raw.text().startswith('431[{"ok":true')
    finally:
        raw.close()


def test_a_second_websocket_for_the_session_is_accepted_then_closed(served):  # noqa: F811
    url, sio = served()
    sid = polling_session(url)
    first = upgraded(url, sid)
    second = Raw(url, query=f"transport=websocket&sid={sid}")
    try:
        assert second.status == 101  # python-engineio alone: 400
        assert second.until_closed(timeout=5) == ([], 1008)
        first.send('421["users",{}]')  # the first one carries on
        assert first.text().startswith('431[{"ok":true')
        assert sio.server.eio.sockets[sid].upgraded
    finally:
        first.close()
        second.close()
