"""Hostile clients against the transport (issue 11, items 1, 2, 5, 6 and 10): each attack runs
against a real server process from a raw client, and a normal client is served during and
after it."""

from __future__ import annotations

import socket
import sys
import time

import pytest
import requests

from tests.support.clients import ChatClient, unique
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net


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


def eventually(condition, timeout: float = 10.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(every)


def healthy(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=1).ok
    except requests.RequestException:
        return False


# ---- item 1: out of file descriptors ---------------------------------------------------------

FILE_LIMIT = 256


def test_running_out_of_descriptors_does_not_stop_the_server():
    """Under `ulimit -n 256`, far more connections than descriptors: MAX_CONNECTIONS (100,000
    by default) is lowered at start-up with a warning, the connections beyond it wait, and once
    the attacker lets go the server answers again."""
    command = f"ulimit -n {FILE_LIMIT} && exec {sys.executable} app.py"
    env = {"MAX_CONNECTIONS_PER_IP": "0", "LOG_LEVEL": "INFO"}
    with ServerProcess(env, command=command) as srv:
        warned = srv.wait_for_output(lambda line: "MAX_CONNECTIONS=100000 is more than" in line)
        assert warned, srv.output()[-2000:]
        held = []
        try:
            for _ in range(FILE_LIMIT + 100):  # accepted until the limit, then in the backlog
                held.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
            # let go of half: the server serves again while the other half is still held
            for sock in held[: len(held) // 2]:
                sock.close()
            del held[: len(held) // 2]
            assert eventually(lambda: healthy(srv.url), timeout=20), srv.output()[-2000:]
            assert_served(srv.url)
        finally:
            for sock in held:
                sock.close()
        assert eventually(lambda: healthy(srv.url), timeout=20)
        assert_served(srv.url)
        assert srv.proc.poll() is None
