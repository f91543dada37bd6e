"""Hostile clients (issue 11): each attack runs against a real server process from a raw client,
and a normal client is served during and after it."""

from __future__ import annotations

import json

import pytest
import websocket

from tests.support.clients import ChatClient, unique
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net

PER_ADDRESS = 6
MAX_ID = 2**63 - 1


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`make run`'s storage (SQLite), with a small per-address cap so that leaks show quickly."""
    db = tmp_path_factory.mktemp("hostile") / "chat.db"
    env = {"DATABASE_URL": f"sqlite:///{db}", "MAX_CONNECTIONS_PER_IP": str(PER_ADDRESS)}
    with ServerProcess(env) as srv:
        yield srv


def raw_connect(url: str, auth) -> tuple[str, websocket.WebSocket]:
    """Engine.IO open, then a Socket.IO CONNECT carrying `auth` as raw JSON text: returns the
    server's answer ("40{sid}" or "44{message}") and the socket."""
    ws = websocket.create_connection(
        url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket",
        timeout=5,
        suppress_origin=True,
    )
    assert ws.recv().startswith("0{")
    ws.send("40" + (auth if isinstance(auth, str) else json.dumps(auth)))
    return ws.recv(), ws


def assert_served(url: str) -> None:
    """A normal client connects, names itself and chats."""
    ada = ChatClient(url)
    bea = ChatClient(url)
    try:
        ada.set_name(unique("Ada"))
        bea.set_name(unique("Bea"))
        ada.say("still served")
        bea.wait_message("still served")
    finally:
        ada.close()
        bea.close()


# ---- item 3: a failed resume must release what it took -------------------------------------------


@pytest.mark.parametrize("last_id", [-(2**70), 2**64, -1, "12", 1.5, True])
def test_a_resume_with_a_bad_last_id_is_refused_and_takes_nothing(server, last_id):
    mallory = ChatClient(server.url)
    try:
        token = mallory.set_name(unique("Mallory"))["token"]
        mallory.close()
        # twice the per-address cap: a leaked slot per try would lock the address out
        answers = []
        for _ in range(2 * PER_ADDRESS):
            answer, ws = raw_connect(server.url, {"token": token, "last_id": last_id})
            ws.close()
            answers.append(answer)
        assert_served(server.url)
        refusal = {"message": f"last_id must be a whole number from 0 to {MAX_ID}."}
        assert [(a[:2], json.loads(a[2:])) for a in answers] == [("44", refusal)] * len(answers)
    finally:
        mallory.close()


def test_a_resume_with_a_valid_last_id_still_replays(server):
    ada = ChatClient(server.url)
    try:
        ada.set_name(unique("Ada"))
        first = ada.say("one")
        ada.say("two")
        ada.close()
        back = ChatClient(server.url, auth={"token": ada.token, "last_id": first["id"]})
        try:
            back.wait_for("message", lambda d: d.get("txt") == "two" and d.get("replayed"))
        finally:
            back.close()
    finally:
        ada.close()


# ---- item 11: history cursors out of 64 bits -----------------------------------------------------


@pytest.mark.parametrize("payload", [{"before": 2**63}, {"after": -(2**63)}, {"before": 2**80}])
def test_history_with_a_huge_cursor_gets_a_clear_refusal(server, payload):
    ada = ChatClient(server.url)
    try:
        ada.set_name(unique("Ada"))
        assert ada.call("history", payload) == {
            "ok": False,
            "error": f"before and after must be whole numbers from 0 to {MAX_ID}.",
        }
        assert ada.call("history", {"before": MAX_ID})["ok"] is True
        assert_served(server.url)
    finally:
        ada.close()
    assert not [line for line in server.log_lines() if "Traceback" in line]
