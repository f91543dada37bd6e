"""Only the page's own origin may connect (docs/protocol.md, "Connecting"): any other `Origin`
is refused at the handshake with HTTP 400, for long-polling and WebSocket alike;
ALLOWED_ORIGINS adds origins; clients that send no Origin (not browsers) are let in."""

from __future__ import annotations

import json

import pytest
import requests
import socketio
import websocket

from tests.support.clients import ChatClient, run_js
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net

EVIL = "http://evil.example"
FRIEND = "http://friend.example"


@pytest.fixture(scope="module")
def server():
    with ServerProcess() as srv:
        yield srv


@pytest.fixture(scope="module")
def friendly_server():
    with ServerProcess({"ALLOWED_ORIGINS": f"{FRIEND}/, http://other.example"}) as srv:
        yield srv


def polling_handshake(url: str, origin: str | None) -> requests.Response:
    headers = {"Origin": origin} if origin is not None else {}
    return requests.get(f"{url}/socket.io/?EIO=4&transport=polling", headers=headers, timeout=5)


def websocket_handshake(url: str, origin: str | None, query: str = "") -> tuple[int, str]:
    """(101, Engine.IO open packet) or (HTTP status, body) for a direct WebSocket connection.

    websocket-client adds `Origin: http://<host>` by itself unless told otherwise, so the
    header is set through its own options: exactly one Origin, or none."""
    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket" + query
    try:
        ws = websocket.create_connection(
            ws_url, origin=origin, suppress_origin=origin is None, timeout=5
        )
    except websocket.WebSocketBadStatusException as refused:
        return refused.status_code, (refused.resp_body or b"").decode(errors="replace")
    try:
        return 101, ws.recv()
    finally:
        ws.close()


def assert_open_packet(body: str) -> None:
    assert body.startswith("0{"), body
    assert json.loads(body[1:])["sid"]


# ---- refused ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [EVIL, "null", "http://127.0.0.1.evil.example", "https://127.0.0.1", "http://localhost"],
)
def test_a_foreign_origin_is_refused_for_long_polling(server, origin):
    if origin.startswith("https://127.0.0.1"):
        origin = f"https://127.0.0.1:{server.port}"  # same host, other scheme
    response = polling_handshake(server.url, origin)
    assert response.status_code == 400
    assert "Not an accepted origin." in response.text
    assert "sid" not in response.text


@pytest.mark.parametrize("origin", [EVIL, "null", "http://localhost"])
def test_a_foreign_origin_is_refused_for_a_direct_websocket(server, origin):
    status, body = websocket_handshake(server.url, origin)
    assert status == 400, body
    assert "Not an accepted origin." in body


def test_a_foreign_origin_cannot_upgrade_an_existing_session_to_websocket(server):
    opened = polling_handshake(server.url, None)
    sid = json.loads(opened.text[1:])["sid"]
    status, body = websocket_handshake(server.url, EVIL, query=f"&sid={sid}")
    assert status == 400, body


def test_a_python_socketio_client_with_a_foreign_origin_cannot_connect(server):
    for transport in ("polling", "websocket"):
        with pytest.raises(socketio.exceptions.ConnectionError):
            ChatClient(server.url, transports=[transport], headers={"Origin": EVIL})


def test_the_official_js_client_with_a_foreign_origin_cannot_connect(server, node):
    report = run_js(
        {
            "url": server.url,
            "clients": {
                "ws": {"transports": ["websocket"], "extraHeaders": {"Origin": EVIL}},
                "poll": {"transports": ["polling"], "extraHeaders": {"Origin": EVIL}},
            },
            "steps": [
                {"connect": "ws", "expect_error": True, "save": "ws"},
                {"connect": "poll", "expect_error": True, "save": "poll"},
            ],
        }
    )
    assert report["saved"]["ws"]["connected"] is False
    assert report["saved"]["poll"]["connected"] is False


# ---- accepted --------------------------------------------------------------------------------


def test_the_pages_own_origin_is_accepted(server):
    own = f"http://127.0.0.1:{server.port}"
    response = polling_handshake(server.url, own)
    assert response.status_code == 200
    assert_open_packet(response.text)
    status, body = websocket_handshake(server.url, own)
    assert status == 101
    assert_open_packet(body)


def test_a_client_that_sends_no_origin_is_accepted(server):
    response = polling_handshake(server.url, None)
    assert response.status_code == 200
    assert_open_packet(response.text)
    status, body = websocket_handshake(server.url, None)
    assert status == 101
    assert_open_packet(body)


def test_same_origin_clients_can_chat(server):
    own = f"http://127.0.0.1:{server.port}"
    ada = ChatClient(server.url, transports=["polling"], headers={"Origin": own})
    bea = ChatClient(server.url, transports=["websocket"], headers={"Origin": own})
    try:
        ada.set_name("OriginAda")
        bea.set_name("OriginBea")
        ada.say("same origin works")
        bea.wait_message("same origin works")
    finally:
        ada.close()
        bea.close()


def test_allowed_origins_admits_the_listed_origins(friendly_server):
    for origin in (FRIEND, "http://other.example", f"http://127.0.0.1:{friendly_server.port}"):
        response = polling_handshake(friendly_server.url, origin)
        assert response.status_code == 200, origin
        assert_open_packet(response.text)
        status, body = websocket_handshake(friendly_server.url, origin)
        assert status == 101, (origin, body)
        assert_open_packet(body)


def test_allowed_origins_admits_only_the_listed_origins(friendly_server):
    for origin in (EVIL, "https://friend.example", "http://friend.example.evil.example"):
        assert polling_handshake(friendly_server.url, origin).status_code == 400, origin
        assert websocket_handshake(friendly_server.url, origin)[0] == 400, origin


def test_a_client_from_an_allowed_origin_can_chat(friendly_server):
    friend = ChatClient(friendly_server.url, headers={"Origin": FRIEND})
    local = ChatClient(friendly_server.url, transports=["polling"])
    try:
        friend.set_name("Friend")
        local.set_name("Local")
        friend.say("hello from a friend")
        local.wait_message("hello from a friend")
    finally:
        friend.close()
        local.close()
