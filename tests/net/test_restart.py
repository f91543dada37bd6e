"""Graceful restart: SIGTERM tells clients, commits what was accepted, exits cleanly; clients
resume on the new process with their names and get what they missed."""

import signal
import threading
import time

import pytest

from tests.support.clients import ChatClient, joined
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net


def test_sigterm_drains_tells_clients_and_the_next_process_resumes_them(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/chat.db", "RATE_LIMIT": "0"}
    server = ServerProcess(env=env).start()
    ada = joined(server.url, "Ada")
    bea = joined(server.url, "Bea")
    last_seen_by_bea = bea.say("before the restart")["id"]
    acked, stop = [], threading.Event()

    def stream():
        number = 0
        try:
            while not stop.is_set():
                ack = ada.call("message", {"msg": f"s{number}", "client_id": f"s{number}"})
                if ack.get("ok"):
                    acked.append(ack["id"])
                number += 1
        except Exception:
            pass  # the connection closed under the call

    streamer = threading.Thread(target=stream)
    streamer.start()
    deadline = time.monotonic() + 30
    while len(acked) < 50:  # a streamer that stopped early fails here, not at the test timeout
        assert streamer.is_alive() and time.monotonic() < deadline, f"{len(acked)} acked"
        time.sleep(0.01)
    server.proc.send_signal(signal.SIGTERM)
    notice = bea.wait_for("server_shutdown", timeout=10)
    assert notice == {"reconnect_in_ms": 1000}
    assert server.proc.wait(timeout=15) == 0  # a clean exit, not a kill
    stop.set()
    streamer.join(timeout=10)

    restarted = ServerProcess(env=env, port=server.port).start()
    try:
        back = ChatClient(restarted.url, auth={"token": bea.token, "last_id": last_seen_by_bea})
        session = back.wait_for("session")
        assert session["resumed"] is True and session["username"] == "Bea"
        replayed = back.wait_for_count("message", len(acked), lambda m: m.get("replayed"))
        replayed_ids = [m["id"] for m in replayed]
        assert set(acked) <= set(replayed_ids)  # every acked message survived and is replayed
        assert replayed_ids == sorted(set(replayed_ids))  # in order, once each
        back.close()
    finally:
        restarted.stop()
        server.stop()
        ada.close(), bea.close()
