"""Operating the server: /readyz following its dependencies, /metrics and its access rules, JSON
logs. PostgreSQL and Redis are reached through a TCP proxy of the test's own, which the test
stops, hangs and restarts: the shared services themselves are never touched."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import time

import pytest
import redis
import requests
from sqlalchemy.engine import make_url

from deploy.cluster import Nginx, nginx_binary
from tests.conftest import require_service
from tests.support.clients import ChatClient, unique
from tests.support.server import ROOT, ServerProcess
from tests.support.tcpproxy import TcpProxy
from tests.support.waiting import eventually

pytestmark = [pytest.mark.net, pytest.mark.timeout(180)]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PROBE_BUDGET = 2.0  # /readyz answers within this, whatever its dependencies do
RECOVERY = 10.0  # ...and is ready again this soon after they come back


def readyz(server: ServerProcess) -> tuple[int, dict]:
    started = time.monotonic()
    response = requests.get(server.url + "/readyz", timeout=10)
    took = time.monotonic() - started
    assert took < PROBE_BUDGET, f"/readyz took {took:.2f} s: {response.text}"
    return response.status_code, response.json()


def ready_within(server: ServerProcess, timeout: float) -> dict:
    def check():
        status, body = readyz(server)
        return body if status == 200 and body["ok"] else None

    return eventually(check, timeout, "/readyz 200")


def failing_within(server: ServerProcess, check: str, timeout: float = 5.0) -> dict:
    def failing():
        status, body = readyz(server)
        if status == 503 and not body["ok"] and body["checks"][check].startswith("error"):
            return body
        return None

    return eventually(failing, timeout, f"/readyz 503 naming {check}")


def chat_works(server: ServerProcess) -> None:
    """A message is acked (stored), reaches another user (with Redis: through the message
    queue, even on one node) and is in the history afterwards."""
    with ChatClient(server.url) as client, ChatClient(server.url) as other:
        client.set_name(unique("Ops"))
        other.set_name(unique("Other"))
        text = unique("after-recovery")
        ack = client.say(text)
        other.wait_message(text)
        page = client.call("history", {"limit": 10})
        assert page["ok"] and text in [m["txt"] for m in page["messages"]], (ack, page)


# ---------------------------------------------------------------- readiness


def test_readyz_follows_postgresql_going_away_hanging_and_coming_back(postgres_url):
    url = make_url(postgres_url)
    with TcpProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        with ServerProcess({"DATABASE_URL": proxied}) as server:
            assert ready_within(server, 5)["checks"]["database"] == "ok"
            chat_works(server)

            proxy.stop()
            body = failing_within(server, "database")
            assert "page" in body["checks"] and body["checks"]["page"] == "ok"
            assert requests.get(server.url + "/healthz", timeout=2).ok  # alive all along

            proxy.start()
            ready_within(server, RECOVERY)
            chat_works(server)

            proxy.hang()  # connections open, nothing answered
            body = failing_within(server, "database", timeout=8)
            assert "timed out" in body["checks"]["database"], body
            proxy.stop()
            proxy.start()
            ready_within(server, RECOVERY)
            chat_works(server)


@pytest.fixture
def redis_prefix():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        reachable, why_not = True, ""
    except redis.RedisError as exc:
        reachable, why_not = False, str(exc)
    require_service("Redis", reachable, why_not)
    prefix = f"rpschat-ops-{secrets.token_hex(4)}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    doomed = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if doomed:
        client.delete(*doomed)


def test_readyz_follows_redis_going_away_hanging_and_coming_back(redis_prefix, tmp_path):
    target = make_url(REDIS_URL)
    with TcpProxy((target.host or "127.0.0.1", target.port or 6379)) as proxy:
        env = {
            "REDIS_URL": f"redis://127.0.0.1:{proxy.port}/{target.database or 0}",
            "REDIS_PREFIX": redis_prefix,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        }
        with ServerProcess(env) as server:
            # subscribed at start-up, before any client
            checks = ready_within(server, 10)["checks"]
            assert checks["redis"] == "ok" and checks["message_queue"] == "ok"
            chat_works(server)

            proxy.stop()
            body = failing_within(server, "redis")
            assert body["checks"]["database"] == "ok"
            failing_within(server, "message_queue")

            proxy.start()
            ready_within(server, RECOVERY)
            chat_works(server)

            proxy.hang()
            failing_within(server, "redis", timeout=8)
            proxy.stop()
            proxy.start()
            ready_within(server, RECOVERY)
            chat_works(server)


def test_after_a_long_redis_outage_the_node_is_ready_and_chats_within_10_s(redis_prefix):
    """python-socketio's listener backs off to a minute between attempts; after a 20-s outage
    it would sleep 16 s more. The node resubscribes within seconds instead."""
    target = make_url(REDIS_URL)
    with TcpProxy((target.host or "127.0.0.1", target.port or 6379)) as proxy:
        env = {
            "REDIS_URL": f"redis://127.0.0.1:{proxy.port}/{target.database or 0}",
            "REDIS_PREFIX": redis_prefix,
            "DATABASE_URL": "memory://",
        }
        with ServerProcess(env) as server:
            ready_within(server, 10)
            proxy.stop()
            outage_ends = time.monotonic() + 20
            while time.monotonic() < outage_ends:  # the outage, watched: never ready meanwhile
                status, body = readyz(server)
                assert status == 503 and body["checks"]["redis"].startswith("error"), body
                time.sleep(0.5)
            proxy.start()
            ready_within(server, RECOVERY)
            chat_works(server)


def test_missing_page_assets_are_an_error_at_start_and_fail_readiness(tmp_path):
    """A deployment that left out static/vendor/ (the page's Socket.IO client)."""
    for part in ("app.py", "rpschat", "eiotransport", "templates", "static", "pyproject.toml"):
        source = ROOT / part
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, tmp_path / part)
    shutil.rmtree(tmp_path / "static" / "vendor")
    server = ServerProcess({"DATABASE_URL": "memory://"})
    server.command = [sys.executable, str(tmp_path / "app.py")]
    with server:
        vendor = requests.get(server.url + "/vendor/socket.io.esm.min.js", timeout=5)
        assert vendor.status_code == 404
        status, body = readyz(server)
        assert status == 503 and not body["ok"]
        assert body["checks"]["page"].startswith("error: missing ")
        assert "static/vendor/" in body["checks"]["page"]
        errors = [line for line in server.log_lines() if " ERROR " in line]
        assert errors and "socket.io.esm.min.js" in errors[0] and "make vendor" in errors[0], errors


# ---------------------------------------------------------------- metrics


def scrape(server: ServerProcess, **headers: str) -> dict[str, float]:
    response = requests.get(server.url + "/metrics", headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def sample(samples: dict[str, float], name: str) -> float:
    return samples.get(name, 0.0)


@pytest.fixture(scope="module")
def server():
    env = {"DATABASE_URL": "memory://", "ROUND_SECONDS": "5", "LOG_LEVEL": "INFO"}
    with ServerProcess(env) as srv:
        yield srv


def test_metrics_move_after_a_chat_message_and_a_finished_game(server):
    before = scrape(server)
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        'rpschat_connections{transport="websocket"}',
        'rpschat_connections{transport="polling"}',
        "rpschat_users_online",
        "rpschat_games_active",
        "rpschat_messages_total",
        "rpschat_commit_seconds_count",
        "rpschat_deliveries_total",
        "rpschat_slow_consumers_dropped_total",
    ):
        assert name in before, name
    ada = ChatClient(server.url)
    bea = ChatClient(server.url, transports=["polling"])
    try:
        ada.set_name(unique("Ada"))
        bea.set_name(unique("Bea"))
        ada.say(unique("hello"))
        assert ada.call("no_such_event", {})["ok"] is False
        after_chat = scrape(server)
        assert sample(after_chat, "rpschat_messages_total") == before["rpschat_messages_total"] + 1
        # names' answers and announcements, the message to the other, acks...: at least 3
        assert after_chat["rpschat_deliveries_total"] >= before["rpschat_deliveries_total"] + 3
        ok_messages = 'rpschat_events_total{event="message",outcome="ok"}'
        assert sample(after_chat, ok_messages) == sample(before, ok_messages) + 1
        timed = 'rpschat_handler_seconds_count{event="message"}'
        assert sample(after_chat, timed) == sample(before, timed) + 1
        assert sample(after_chat, "rpschat_users_online") >= 2
        assert sample(after_chat, 'rpschat_connections{transport="websocket"}') >= 1
        assert sample(after_chat, 'rpschat_connections{transport="polling"}') >= 1
        assert "no_such_event" not in requests.get(server.url + "/metrics", timeout=5).text
        unknown = 'rpschat_events_total{event="(unknown)",outcome="refused"}'
        assert sample(after_chat, unknown) == sample(before, unknown) + 1

        assert ada.call("find_match", {"best_of": 1})["ok"]
        assert bea.call("find_match", {"best_of": 1})["ok"]
        game_id = ada.wait_for("match_found")["game_id"]
        for player in (ada, bea):
            player.wait_for("round_started")
        assert ada.call("throw", {"game_id": game_id, "move": "rock"})["ok"]
        assert bea.call("throw", {"game_id": game_id, "move": "scissors"})["ok"]
        ada.wait_for("game_over")
        won = 'rpschat_games_finished_total{reason="won"}'
        eventually(
            lambda: sample(scrape(server), won) == sample(before, won) + 1, 5, "a game counted"
        )
        throws = 'rpschat_events_total{event="throw",outcome="ok"}'
        assert sample(scrape(server), throws) == sample(before, throws) + 2
    finally:
        ada.close()
        bea.close()


def test_metrics_answer_loopback_only_without_a_token(server):
    assert requests.get(server.url + "/metrics", timeout=5).status_code == 200
    # without TRUST_PROXY a forwarded address is not believed: the peer is loopback
    forged = {"X-Forwarded-For": "203.0.113.9"}
    assert requests.get(server.url + "/metrics", headers=forged, timeout=5).status_code == 200


def test_metrics_behind_a_trusted_proxy_refuse_remote_clients():
    with ServerProcess({"DATABASE_URL": "memory://", "TRUST_PROXY": "true"}) as srv:
        remote = {"X-Forwarded-For": "203.0.113.9"}
        response = requests.get(srv.url + "/metrics", headers=remote, timeout=5)
        assert response.status_code == 403 and "METRICS_TOKEN" in response.text
        local = {"X-Forwarded-For": "127.0.0.1"}
        assert requests.get(srv.url + "/metrics", headers=local, timeout=5).status_code == 200


def test_metrics_with_a_token_require_it():
    token = secrets.token_urlsafe(16)
    env = {"DATABASE_URL": "memory://", "METRICS_TOKEN": token, "LOG_FORMAT": "json"}
    with ServerProcess(env) as srv:
        url = srv.url + "/metrics"
        missing = requests.get(url, timeout=5)
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith(
            "Bearer"
        )
        wrong = {"Authorization": "Bearer " + token[:-1]}
        assert requests.get(url, headers=wrong, timeout=5).status_code == 401
        right = {"Authorization": f"Bearer {token}"}
        response = requests.get(url, headers=right, timeout=5)
        assert response.status_code == 200 and "rpschat_messages_total" in response.text
        assert token not in srv.output()


def test_metrics_off_when_switched_off():
    with ServerProcess({"DATABASE_URL": "memory://", "METRICS": "false"}) as srv:
        assert requests.get(srv.url + "/metrics", timeout=5).status_code == 404
        assert requests.get(srv.url + "/readyz", timeout=5).status_code == 200
        with ChatClient(srv.url) as client:
            client.set_name(unique("NoMetrics"))
            client.say("still chatting")


# ---------------------------------------------------------------- logs


def test_json_logs_are_one_object_per_line_without_bodies_or_secrets(tmp_path):
    secret_text = unique("body")
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        "REDIS_URL": "",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "METRICS_TOKEN": "tok-" + secrets.token_hex(8),
    }
    with ServerProcess(env) as srv:
        with ChatClient(srv.url) as client:
            ack = client.set_name(unique("Jay"))
            client.say(secret_text)
            client.call("message", {"msg": secret_text + "x" * 3000})  # refused: too long
            sid = client.sio.get_sid()
        assert srv.wait_for_output(lambda line: f"disconnect {ack['username']}" in line, 10)
        # Whole lines only: the server may be writing one as the file is read.
        text = srv.output()
        lines = [line for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]
        entries = [json.loads(line) for line in lines]  # every line is one JSON object
        for entry in entries:
            assert {"time", "level", "logger", "event"} <= set(entry), entry
            assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", entry["time"])
        start = [e for e in entries if e["event"].startswith("rpschat ")]
        assert len(start) == 1 and "starting" in start[0]["event"]
        assert "database=sqlite:///" in start[0]["event"] and "metrics=token" in start[0]["event"]
        connect = [e for e in entries if e["event"].startswith("connect ")]
        assert connect and connect[0]["sid"] == sid and connect[0]["address"] == "127.0.0.1"
        named = [e for e in entries if e["event"] == f"name {ack['username']}"]
        assert len(named) == 1 and re.fullmatch(r"[0-9a-f]{12}", named[0]["user"])
        assert named[0]["sid"] == sid
        output = srv.output()
        assert secret_text not in output
        assert ack["token"] not in output
        assert env["METRICS_TOKEN"] not in output


def test_the_startup_line_redacts_passwords():
    env = {
        "DATABASE_URL": "memory://",
        "REDIS_URL": "",
        "LOG_LEVEL": "INFO",
    }
    with ServerProcess(env) as srv:
        lines = srv.wait_for_output(lambda line: "rpschat " in line and " starting" in line)
        assert len(lines) == 1 and "database=memory://" in lines[0] and "redis=off" in lines[0]


def test_the_startup_line_hides_the_database_password(postgres_url):
    url = make_url(postgres_url).set(password="hunter2-secret")
    # PostgreSQL's trust authentication ignores the password: the server still starts
    env = {"DATABASE_URL": url.render_as_string(False), "LOG_LEVEL": "INFO"}
    with ServerProcess(env) as srv:
        lines = srv.wait_for_output(lambda line: " starting" in line)
        assert lines and "postgresql://postgres:***@" in lines[0], lines
        assert "hunter2-secret" not in srv.output()


def test_ready_at_start_names_every_check(server):
    status, body = readyz(server)
    assert status == 200 and body == {
        "ok": True,
        "checks": {"database": "ok (memory://)", "page": "ok"},
    }


def test_through_nginx_readyz_answers_and_metrics_stay_per_node(server, tmp_path):
    require_service("nginx", nginx_binary() is not None, "not installed")
    nginx = Nginx([server.port], tmp_path).start()
    try:
        response = requests.get(nginx.url + "/readyz", timeout=5)
        assert response.status_code == 200 and response.json()["ok"]
        assert requests.get(nginx.url + "/metrics", timeout=5).status_code == 404
        assert requests.get(server.url + "/metrics", timeout=5).status_code == 200
    finally:
        nginx.stop()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_deliveries_count_frames_on_either_transport(server, transport):
    first = ChatClient(server.url, transports=[transport])
    second = ChatClient(server.url, transports=[transport])
    try:
        first.set_name(unique("First"))
        second.set_name(unique("Second"))
        before = scrape(server)["rpschat_deliveries_total"]
        text = unique("counted")
        first.say(text)
        second.wait_message(text)
        # the message to the other (not back to its sender), and the sender's ack
        assert scrape(server)["rpschat_deliveries_total"] >= before + 2
    finally:
        first.close()
        second.close()
