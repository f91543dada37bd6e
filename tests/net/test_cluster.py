"""Many nodes act as one server: node processes (`python app.py`) on one real Redis and one real
PostgreSQL, talked to over the network, directly or through nginx.

Every test has its own Redis key prefix (and so its own Socket.IO channel) and a fresh schema in
a throwaway PostgreSQL database. Redis or PostgreSQL unreachable: skipped, or a failure under
CI=true. The Redis-restart test runs its own redis-server, so it never disturbs the shared one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import requests
from requests.adapters import HTTPAdapter

from deploy.cluster import Nginx, nginx_binary, render_nginx_config
from rpschat.domain.errors import Code
from tests.conftest import require_service
from tests.support.clients import ChatClient
from tests.support.server import ServerProcess, free_port
from tests.support.waiting import eventually

pytestmark = [pytest.mark.net, pytest.mark.timeout(180)]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# A node whose heartbeat is older than NODE_TTL_SECONDS is dead, and its users are dropped. A
# node process on a loaded machine can stall for seconds, so only the tests that kill a node use
# a short TTL (DYING_NODE_TTL, passed to `nodes.start`); every other test's nodes would have to
# stall for a minute to be declared dead.
NODE_TTL = 60.0
DYING_NODE_TTL = 3.0
GRACE = 1.0
# The documented ghost time (NODE_TTL + one tick + RESUME_GRACE_SECONDS), and slack for a busy
# machine: nodes and clients share its CPUs.
GHOST_SECONDS = DYING_NODE_TTL + min(1.0, DYING_NODE_TTL / 4) + GRACE
SLACK = 4.0


def redis_reachable(url: str) -> tuple[bool, str]:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return True, ""
    except redis.RedisError as exc:
        return False, f"{url}: {exc}"


@pytest.fixture
def prefix():
    """This test's Redis key prefix; its keys are deleted afterwards."""
    reachable, why_not = redis_reachable(REDIS_URL)
    require_service("Redis", reachable, why_not)
    prefix = f"rpschat-net-{secrets.token_hex(4)}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    doomed = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if doomed:
        client.delete(*doomed)


class Nodes:
    """Node processes sharing this test's Redis prefix and database."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.servers: list[ServerProcess] = []

    def start(self, count: int, **env: str) -> list[ServerProcess]:
        """`count` nodes, each answering and subscribed to the message queue's channel."""
        env = {**self.env, **env}
        servers = [ServerProcess(env=env) for _ in range(count)]
        self.servers += servers
        threads = [threading.Thread(target=s.start) for s in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for server in servers:  # start() raised in its thread: say so here
            server.wait_ready(5)
        self.wait_subscribed(servers, env["REDIS_URL"], f"{env['REDIS_PREFIX']}:socketio")
        return servers

    def wait_subscribed(self, servers: list[ServerProcess], url: str, channel: str) -> None:
        """Until every running node listens on the channel, an emit from one node may not reach
        another's clients. A node may subscribe only once its first client connects, and then
        in the background: connect one (unnamed, so nobody sees it) and poll Redis for it."""
        for server in servers:
            ChatClient(server.url).close()
        running = sum(1 for s in self.servers if s.proc is not None and s.proc.poll() is None)
        client = redis.Redis.from_url(url)
        try:
            eventually(
                lambda: dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) >= running,
                20,
                f"{running} nodes subscribed to {channel}",
            )
        finally:
            client.close()

    def logs(self) -> str:
        parts = []
        for server in self.servers:
            if server.log_path and Path(server.log_path).exists():
                text = Path(server.log_path).read_text(errors="replace")
                parts.append(f"---- node on {server.port} ----\n{text[-4000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for server in self.servers:
            if server.proc is not None:
                server.stop()


@pytest.fixture
def nodes(prefix, postgres_url):
    nodes = Nodes(
        {
            "REDIS_URL": REDIS_URL,
            "REDIS_PREFIX": prefix,
            "DATABASE_URL": postgres_url,
            "NODE_TTL_SECONDS": str(NODE_TTL),
            "RESUME_GRACE_SECONDS": str(GRACE),
            "RATE_LIMIT": "0",
            "LOG_LEVEL": "INFO",
        }
    )
    yield nodes
    nodes.stop()
    print(nodes.logs())  # shown when the test failed


class Clients:
    def __init__(self):
        self.made: list[ChatClient] = []

    def connect(self, url: str, **options) -> ChatClient:
        client = ChatClient(url, **options)
        self.made.append(client)
        return client

    def join(self, url: str, name: str, **options) -> ChatClient:
        client = self.connect(url, **options)
        client.set_name(name)
        return client

    def close(self) -> None:
        for client in self.made:
            client.close()


@pytest.fixture
def clients():
    made = Clients()
    yield made
    made.close()


def refusal(ack: dict) -> str:
    """The sentence of a refusal, which must carry a registered code."""
    assert ack.get("ok") is False and ack.get("code") in set(Code), ack
    return ack["error"]


def user_list(client: ChatClient) -> list[str]:
    return client.call("users", {})["users"]


def close_transport_under(client: ChatClient) -> None:
    """The network drops: the socket closes without a Socket.IO disconnect."""
    client.sio.eio.ws.sock.shutdown(socket.SHUT_RDWR)


# ---------------------------------------------------------------- chat across nodes


def test_a_user_joining_on_one_node_is_announced_on_the_other(nodes, clients):
    node_a, node_b = nodes.start(2)
    ada = clients.join(node_a.url, "Ada")
    bea = clients.join(node_b.url, "Bea")
    ada.wait_message("Bea has entered the chat!")
    ada.wait_for("presence", lambda p: p == {"action": "join", "name": "Bea", "count": 2})
    assert user_list(ada) == user_list(bea) == ["Ada", "Bea"]


def test_a_name_held_on_one_node_is_taken_on_the_other(nodes, clients):
    node_a, node_b = nodes.start(2)
    clients.join(node_a.url, "Ada")
    stranger = clients.connect(node_b.url)
    taken = refusal(stranger.call("set_username", {"username": "ADA"}))
    assert taken == "The name 'ADA' is taken: pick another."


def test_messages_cross_nodes_with_ids_from_one_sequence(nodes, clients):
    node_a, node_b = nodes.start(2)
    ada = clients.join(node_a.url, "Ada")
    bea = clients.join(node_b.url, "Bea")
    hello = ada.say("hello from node A")
    assert bea.wait_message("hello from node A")["id"] == hello["id"]
    reply = bea.say("hello from node B")
    assert ada.wait_message("hello from node B")["id"] == reply["id"] > hello["id"]


def test_a_newcomer_on_either_node_gets_the_same_history(nodes, clients):
    node_a, node_b = nodes.start(2)
    hello = clients.join(node_a.url, "Ada").say("hello from node A")
    reply = clients.join(node_b.url, "Bea").say("hello from node B")
    for node in (node_a, node_b):
        newcomer = clients.join(node.url, f"New{node.port}")
        history = newcomer.wait_for("history")["messages"]
        assert [(m["id"], m["txt"]) for m in history] == [
            (hello["id"], "hello from node A"),
            (reply["id"], "hello from node B"),
        ]


def test_a_rename_on_one_node_is_announced_on_the_other(nodes, clients):
    node_a, node_b = nodes.start(2)
    ada = clients.join(node_a.url, "Ada")
    bea = clients.join(node_b.url, "Bea")
    assert bea.call("set_username", {"username": "Bee"})["ok"]
    ada.wait_message("Bea is now known as Bee.")
    ada.wait_for("presence", lambda p: p["action"] == "rename" and p["old_name"] == "Bea")
    assert user_list(ada) == ["Ada", "Bee"]


def test_leaving_on_one_node_is_announced_on_the_other_and_frees_the_name(nodes, clients):
    node_a, node_b = nodes.start(2)
    ada = clients.join(node_a.url, "Ada")
    # long-polling: python-socketio's WebSocket client may close before its DISCONNECT is sent
    bea = clients.join(node_b.url, "Bea", transports=["polling"])
    bea.disconnect()
    ada.wait_message("Bea has left the chat!")
    ada.wait_for("presence", lambda p: p == {"action": "leave", "name": "Bea", "count": 1})
    assert clients.join(node_a.url, "bea").name == "bea"  # the name is free everywhere


def test_only_one_of_many_clients_on_three_nodes_gets_a_name(nodes, clients):
    servers = nodes.start(3)
    contenders = [clients.connect(servers[i % 3].url) for i in range(12)]
    start = threading.Barrier(len(contenders))
    acks: list = [None] * len(contenders)

    def claim(i):
        start.wait()
        acks[i] = contenders[i].call("set_username", {"username": ["Zed", "zed", "ZED"][i % 3]})

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(contenders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [ack for ack in acks if ack and ack.get("ok")]
    assert len(winners) == 1, acks
    assert all("is taken" in refusal(ack) for ack in acks if not ack.get("ok"))
    assert user_list(contenders[0]) == [winners[0]["username"]]


def test_a_resume_on_another_node_mid_stream_gets_every_message_once_in_order(nodes, clients):
    node_a, node_b = nodes.start(2)
    streamer = clients.join(node_a.url, "Streamer")
    ada = clients.join(node_a.url, "Ada")
    seen = streamer.say("before")["id"]
    ada.wait_message("before")
    sent: list[int] = []

    def stream():
        for i in range(300):
            sent.append(streamer.say(f"m{i}")["id"])

    sender = threading.Thread(target=stream)
    sender.start()
    eventually(lambda: len(sent) > 30, 10, "the stream to get going")
    close_transport_under(ada)
    back = clients.connect(node_b.url, auth={"token": ada.token, "last_id": seen})
    assert back.wait_for("session")["resumed"] is True
    sender.join(timeout=60)
    last = sent[-1]
    back.wait_for("message", lambda m: m.get("id") == last, timeout=15)
    ids = [m["id"] for m in back.received("message") if m.get("id")]
    assert ids == sent  # every message after last_id, once, in order: replayed then live
    replayed = [m["id"] for m in back.received("message") if m.get("replayed")]
    assert replayed == sent[: len(replayed)] and len(replayed) >= 30


# ---------------------------------------------------------------- games across nodes


def start_game(first: ChatClient, second: ChatClient, best_of: int = 3) -> str:
    """`first` waits in the queue, `second` completes the pairing (its node starts the game)."""
    assert first.call("find_match", {"best_of": best_of})["ok"]
    assert second.call("find_match", {"best_of": best_of})["ok"]
    found = [c.wait_for("match_found") for c in (first, second)]
    assert found[0]["game_id"] == found[1]["game_id"]
    assert found[0]["opponent"] == second.name and found[1]["opponent"] == first.name
    return found[0]["game_id"]


def play_round(game_id: str, number: int, moves: dict[ChatClient, str]) -> dict:
    players = list(moves)
    for player in players:
        player.wait_for("round_started", lambda r: r["round"] == number)
    first, second = players
    assert first.call("throw", {"game_id": game_id, "move": moves[first]})["ok"]
    second.wait_for("opponent_threw", lambda e: e["game_id"] == game_id)
    assert second.call("throw", {"game_id": game_id, "move": moves[second]})["ok"]
    results = [p.wait_for("round_result", lambda r: r["round"] == number) for p in players]
    assert results[0] == results[1]
    return results[0]


def test_players_on_two_nodes_are_matched_and_play_a_whole_game(nodes, clients):
    node_a, node_b, node_c = nodes.start(3)
    ada = clients.join(node_a.url, "Ada")
    bea = clients.join(node_b.url, "Bea")
    game_id = start_game(ada, bea)
    cy = clients.join(node_c.url, "Cy")  # a spectator on a third node
    assert [g["game_id"] for g in cy.call("games", {})["games"]] == [game_id]
    watched = cy.call("watch", {"game_id": game_id})
    assert watched["ok"] and watched["game"]["players"] == ["Ada", "Bea"]
    assert watched["game"]["spectators"] == 1
    for number in (1, 2):
        result = play_round(game_id, number, {ada: "rock", bea: "scissors"})
        assert result["winner"] == "Ada" and result["moves"] == {"Ada": "rock", "Bea": "scissors"}
    over = [c.wait_for("game_over") for c in (ada, bea, cy)]
    assert cy.wait_for("round_result", lambda r: r["round"] == 2)["winner"] == "Ada"
    expected = {"game_id": game_id, "winner": "Ada", "score": {"Ada": 2, "Bea": 0}}
    assert over[0] == over[1] == over[2] == {**expected, "reason": "won"}

    def leaderboard_has_the_result():
        board = bea.call("leaderboard", {})
        return board if board["provisional"] == 2 else None

    # guests: two provisional ratings, not ranked (their rows are in the shared database)
    board = eventually(leaderboard_has_the_result, 10, "the result in the shared database")
    assert board["players"] == []
    assert ada.call("rematch", {"game_id": game_id})["ok"]
    bea.wait_for("rematch_requested", lambda r: r == {"game_id": game_id, "by": "Ada"})
    assert bea.call("rematch", {"game_id": game_id})["ok"]
    again = [c.wait_for("match_found", lambda m: m["game_id"] != game_id) for c in (ada, bea)]
    assert again[0]["game_id"] == again[1]["game_id"]
    assert bea.call("game_chat", {"game_id": again[0]["game_id"], "msg": "gg"})["ok"]
    assert ada.wait_for("game_message")["txt"] == "gg"


# ---------------------------------------------------------------- a node dies


def test_a_killed_nodes_users_vanish_and_free_their_names_in_the_documented_time(nodes, clients):
    node_a, node_b = nodes.start(2, NODE_TTL_SECONDS=str(DYING_NODE_TTL))
    bea = clients.join(node_b.url, "Bea")
    clients.join(node_a.url, "Ada")
    bea.wait_message("Ada has entered the chat!")
    killed_at = time.monotonic()
    node_a.kill()  # SIGKILL: no goodbye, no leave
    bea.wait_message("Ada has left the chat!", timeout=GHOST_SECONDS + SLACK)
    assert time.monotonic() - killed_at <= GHOST_SECONDS + SLACK
    bea.wait_for("presence", lambda p: p == {"action": "leave", "name": "Ada", "count": 1})
    assert user_list(bea) == ["Bea"]
    assert clients.join(node_b.url, "Ada").name == "Ada"


def test_a_killed_nodes_player_loses_by_disconnect_and_its_queue_entries_vanish(nodes, clients):
    node_a, node_b = nodes.start(2, NODE_TTL_SECONDS=str(DYING_NODE_TTL))
    bea = clients.join(node_b.url, "Bea")
    ada = clients.join(node_a.url, "Ada")
    cy = clients.join(node_a.url, "Cy")
    game_id = start_game(bea, ada)
    assert cy.call("find_match", {"best_of": 5})["ok"]
    node_a.kill()
    away = bea.wait_for("opponent_status", timeout=GHOST_SECONDS + SLACK)
    assert away["name"] == "Ada" and away["connected"] is False
    over = bea.wait_for("game_over", timeout=GHOST_SECONDS + SLACK)
    assert over == {
        "game_id": game_id,
        "winner": "Bea",
        "score": {"Ada": 0, "Bea": 0},
        "reason": "disconnect",
    }
    bea.wait_message("Cy has left the chat!", timeout=SLACK)
    dan = clients.join(node_b.url, "Dan")
    assert dan.call("find_match", {"best_of": 5})["ok"]
    # a pairing takes both out of the queue before find_match acks: Dan still waits, so Cy was gone
    assert dan.call("cancel_match", {})["ok"]


def test_a_round_whose_timer_died_with_its_node_still_ends(nodes, clients):
    node_a, node_b = nodes.start(
        2, ROUND_SECONDS="3", RESUME_GRACE_SECONDS="60", NODE_TTL_SECONDS=str(DYING_NODE_TTL)
    )
    bea = clients.join(node_b.url, "Bea")
    ada = clients.join(node_a.url, "Ada")
    game_id = start_game(bea, ada)  # Ada completed the pairing: node A runs the round timer
    started = bea.wait_for("round_started")
    node_a.kill()
    assert bea.call("throw", {"game_id": game_id, "move": "paper"})["ok"]
    result = bea.wait_for("round_result", timeout=started["time_left_ms"] / 1000 + SLACK)
    assert result["timeout"] is True and result["winner"] == "Bea"
    assert result["moves"] == {"Ada": None, "Bea": "paper"}
    bea.wait_for("round_started", lambda r: r["round"] == 2)


def test_a_user_of_a_killed_node_who_resumes_elsewhere_in_time_keeps_the_name(
    nodes, clients, prefix
):
    node_a, node_b = nodes.start(2, RESUME_GRACE_SECONDS="30", NODE_TTL_SECONDS=str(DYING_NODE_TTL))
    ada = clients.join(node_a.url, "Ada")
    bea = clients.join(node_b.url, "Bea")
    node_a.kill()
    back = clients.connect(node_b.url, auth={"token": ada.token})
    assert back.wait_for("session") == {"resumed": True, "username": "Ada", "token": ada.token}
    shared = redis.Redis.from_url(REDIS_URL)
    # node B notices node A's death and forgets it: Ada, on node B by now, must stay
    eventually(lambda: shared.scard(f"{prefix}:nodes") == 1, DYING_NODE_TTL + SLACK, "A reaped")
    assert user_list(bea) == ["Ada", "Bea"]
    assert "Ada has left the chat!" not in bea.texts()


# ---------------------------------------------------------------- Redis restarts


class PrivateRedis:
    """A redis-server of this test's own, so restarting it disturbs nobody else."""

    def __init__(self, workdir: Path):
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        eventually(lambda: redis_reachable(self.url)[0], 10, "redis-server to answer")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)  # as abrupt as a crash; nothing is saved
            self.process.wait(timeout=10)


@contextmanager
def private_redis(tmp_path):
    if not Path(shutil.which("redis-server") or "/usr/bin/redis-server").exists():
        require_service("redis-server (to restart a private Redis)", False, "not installed")
    server = PrivateRedis(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def test_nodes_survive_a_redis_restart_and_carry_on(nodes, clients, tmp_path):
    with private_redis(tmp_path) as private:
        node_a, node_b = nodes.start(2, REDIS_URL=private.url)
        ada = clients.join(node_a.url, "Ada")
        bea = clients.join(node_b.url, "Bea")
        ada.say("before the restart")
        bea.wait_message("before the restart")

        private.stop()
        newcomer = clients.connect(node_a.url)
        ack = newcomer.call("set_username", {"username": "Cy"}, timeout=15)
        assert "shared state" in refusal(ack)  # a clear answer, not a crash or a hang
        private.start()  # empty: it saved nothing

        eventually(lambda: user_list(ada) == ["Ada", "Bea"], 15, "names restored by the nodes")
        taken = refusal(clients.connect(node_b.url).call("set_username", {"username": "ada"}))
        assert "is taken" in taken

        def chat_flows():
            ada.say("after the restart")
            return "after the restart" in bea.texts()

        eventually(chat_flows, 20, "chat across nodes again", pause=0.5)
        assert newcomer.call("set_username", {"username": "Cy"})["ok"]
        bea.wait_message("Cy has entered the chat!", timeout=10)
        back = clients.connect(node_b.url, auth={"token": ada.token})  # its token came back too
        assert back.wait_for("session")["resumed"] is True


# ---------------------------------------------------------------- through nginx


class SourceAddressAdapter(HTTPAdapter):
    """Requests from a chosen loopback address: nginx's ip_hash then picks the node."""

    def __init__(self, source: str):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(source: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", SourceAddressAdapter(source))
    return session


def addresses_on_different_nodes(url: str, count: int) -> list[str]:
    """Loopback addresses that ip_hash sends to `count` different nodes (it hashes /24s)."""
    by_node: dict[str, str] = {}
    for third in range(1, 64):
        source = f"127.0.{third}.1"
        upstream = session_from(source).get(url + "/healthz", timeout=5).headers["X-Upstream"]
        by_node.setdefault(upstream, source)
        if len(by_node) == count:
            return list(by_node.values())
    raise AssertionError(f"ip_hash sent every address to {list(by_node)}")


def polling_client(clients: Clients, url: str, source: str, name: str) -> ChatClient:
    client = ChatClient(url, transports=["polling"], connect=False)
    client.sio.eio.http = session_from(source)
    client.sio.eio.external_http = True
    client.connect()
    clients.made.append(client)
    client.set_name(name)
    return client


@pytest.fixture
def nginx_available():
    require_service("nginx", nginx_binary() is not None, "not installed")


def test_the_nginx_config_is_valid(tmp_path, nginx_available):
    nginx = Nginx([free_port(), free_port(), free_port()], tmp_path)
    assert "test is successful" in nginx.check()
    config = render_nginx_config(8080, [9001, 9002], tmp_path)
    assert "ip_hash;" in config and "proxy_buffering off;" in config
    assert "proxy_set_header Upgrade $http_upgrade;" in config
    assert "server 127.0.0.1:9001;" in config and "server 127.0.0.1:9002;" in config


def test_long_polling_clients_through_nginx_on_two_nodes_are_one_chat(
    nodes, clients, tmp_path, nginx_available
):
    node_a, node_b = nodes.start(2)
    nginx = Nginx([node_a.port, node_b.port], tmp_path).start()
    try:
        first, second = addresses_on_different_nodes(nginx.url, 2)
        ada = polling_client(clients, nginx.url, first, "Ada")
        bea = polling_client(clients, nginx.url, second, "Bea")
        assert ada.transport == bea.transport == "polling"
        ada.wait_message("Bea has entered the chat!")
        assert user_list(bea) == ["Ada", "Bea"]
        for i in range(20):  # many polls each: they keep reaching the node with the session
            ada.say(f"a{i}")
            bea.say(f"b{i}")
        bea.wait_message("a19")
        ada.wait_message("b19")
        assert [t for t in bea.texts() if t.startswith("a")] == [f"a{i}" for i in range(20)]
        websocket = clients.join(nginx.url, "Cy")  # and the WebSocket upgrade passes through
        assert websocket.transport == "websocket"
        ada.wait_message("Cy has entered the chat!")
    finally:
        nginx.stop()
        print(nginx.error_log()[-3000:])
