"""The server log (the process output): one INFO line per connect, name and disconnect, and
never what people wrote."""

from __future__ import annotations

import re

import pytest

from tests.support.clients import ChatClient, RawSocket, run_js, unique
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net

INFO = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO "


@pytest.fixture(scope="module")
def server():
    # a short grace period, so that a dropped connection's leave is logged within the test
    with ServerProcess({"RESUME_GRACE_SECONDS": "0.5", "LOG_LEVEL": "INFO"}) as srv:
        yield srv


def lines_matching(server: ServerProcess, pattern: str) -> list[str]:
    return [line for line in server.log_lines() if re.search(pattern, line)]


def logged_so_far(server: ServerProcess) -> None:
    """Returns once the server has logged everything it did before now: a new connection's
    `connect` line is logged after what the server had already taken up (one event loop)."""
    probe = ChatClient(server.url, transports=["polling"])
    try:
        sid = probe.sio.get_sid()
        assert server.wait_for_output(lambda line: f"connect {sid} from" in line), sid
    finally:
        probe.close()


def settle(server: ServerProcess, pattern: str, timeout: float = 10.0) -> list[str]:
    """The lines matching `pattern` once there is one and what followed it is logged too."""
    assert server.wait_for_output(lambda line: re.search(pattern, line) is not None, timeout)
    logged_so_far(server)
    return lines_matching(server, pattern)


def test_starting_prints_no_warning(server):
    """eventlet's import-time EventletDeprecationWarning is silenced (README: why eventlet)."""
    assert server.wait_for_output(lambda line: "Serving on" in line)
    output = server.output()
    assert "Eventlet is deprecated" not in output
    assert not re.search(r"\w+Warning\b", output), output


def test_a_voluntary_visit_logs_connect_name_and_disconnect_once_each(server, node):
    watcher = ChatClient(server.url)
    name, peer = unique("Logan"), unique("Peer")
    secret = f"my secret is {unique('swordfish')}"
    try:
        watcher.set_name(unique("Watcher"))
        report = run_js(
            {
                "url": server.url,
                "clients": {"js": {}, "peer": {}},  # polling, then the upgrade to WebSocket
                "steps": [
                    {"connect": "peer"},
                    {"call": "set_username", "client": "peer", "data": {"username": peer}},
                    {"connect": "js", "save": "connect"},
                    {"upgraded": "js"},
                    {"call": "set_username", "client": "js", "data": {"username": name}},
                    {"call": "message", "client": "js", "data": {"msg": secret}},
                    {"emit": "message", "client": "js", "data": {"msg": secret + " again"}},
                    {"call": "message", "client": "js", "data": {"msg": secret + "!" * 2000}},
                    {"disconnect": "js"},
                    # the process stays up (so the DISCONNECT packet goes out) until it is seen
                    {
                        "wait": "message",
                        "client": "peer",
                        "match": {"txt": f"{name} has left the chat!"},
                    },
                ],
            }
        )
        watcher.wait_message(secret)
        sid = report["saved"]["connect"]["id"]

        disconnects = settle(server, rf"disconnect {re.escape(name)}\b")
        assert len(disconnects) == 1 and re.match(INFO, disconnects[0]), disconnects
        assert disconnects[0].endswith(f"disconnect {name} (left)")
        connects = lines_matching(server, rf"connect {re.escape(sid)}\b")
        assert len(connects) == 1, connects
        assert re.match(INFO + rf"connect {re.escape(sid)} from 127\.0\.0\.1$", connects[0])
        names = lines_matching(server, rf"\b{re.escape(name)}\b")
        assert [line.split(" INFO ", 1)[-1] for line in names] == [
            f"name {name}",
            f"disconnect {name} (left)",
        ], names
        assert "swordfish" not in server.output()
    finally:
        watcher.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_python_client_visit_logs_one_line_each_and_no_message_body(server, transport):
    watcher = ChatClient(server.url)
    client = ChatClient(server.url, transports=[transport])
    secret = unique("body-text")
    try:
        watcher.set_name(unique("Watcher"))
        name = client.set_name(unique("Lola"))["username"]
        client.say(f"{secret} sent")
        client.call("message", {"msg": f"{secret} refused " + "y" * 2001})
        client.emit("message", {"msg": f"{secret} without an ack"})
        client.call("set_username", {"username": f"{secret}\nnot a name"})
        client.call("no_such_event", {"msg": f"{secret} unknown event"})
        watcher.wait_message(f"{secret} without an ack")
        sid = client.sio.get_sid()
        client.disconnect()

        disconnects = settle(server, rf"disconnect {re.escape(name)}\b")
        assert len(disconnects) == 1 and re.match(INFO, disconnects[0]), disconnects
        assert len(lines_matching(server, INFO + rf"connect {re.escape(sid)} from ")) == 1
        assert len(lines_matching(server, INFO + rf"name {re.escape(name)}$")) == 1
        assert secret not in server.output()
        assert "yyyyyyyy" not in server.output()
    finally:
        watcher.close()
        client.close()


def test_a_refused_frame_is_not_logged_with_its_content(server):
    raw = RawSocket(server.url)
    marker = unique("frame-body")
    try:
        raw.call("set_username", {"username": unique("Raw")})
        raw.send_frame('42["message",{"msg":"' + marker + "z" * (512 * 1024) + '"}]')
        assert raw.wait_closed(5)
        logged_so_far(server)
        assert marker not in server.output()
        assert "zzzzzzzz" not in server.output()
    finally:
        raw.close()


def test_a_connection_that_leaves_without_a_name_logs_its_disconnect(server):
    client = ChatClient(server.url, transports=["polling"])  # polling: a clean disconnect
    sid = client.sio.get_sid()
    assert server.wait_for_output(lambda line: f"connect {sid} from" in line)
    client.disconnect()
    lines = settle(server, rf"disconnect.*{re.escape(sid)}")
    assert len(lines) == 1 and re.match(INFO, lines[0]), lines
