"""Hostile clients (issue 11): each attack runs against a real server process from a raw client,
and a normal client is served during and after it."""

from __future__ import annotations

import json
import re
import threading

import pytest
import requests
import websocket

from rpschat.domain.errors import Code
from tests.conftest import require_service
from tests.support.clients import ChatClient, RawSocket, assert_served, unique
from tests.support.refusals import refused
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net

PER_ADDRESS = 16
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
        refusal = {
            "message": f"last_id must be a whole number from 0 to {MAX_ID}.",
            "data": {"code": "bad_request", "field": "last_id"},
        }
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
        assert ada.call("history", payload) == refused(
            f"before and after must be whole numbers from 0 to {MAX_ID}.", Code.BAD_REQUEST
        )
        assert ada.call("history", {"before": MAX_ID})["ok"] is True
        assert_served(server.url)
    finally:
        ada.close()
    assert not [line for line in server.log_lines() if "Traceback" in line]


# ---- item 8: what storage can't hold is refused; names change all or nothing --------------------


def names_online(url: str) -> list[str]:
    with ChatClient(url) as probe:
        return probe.call("users", {})["users"]


@pytest.mark.parametrize("bad", ["X\ud800", "\udc00Y", "Nul\x00l"])
def test_an_unstorable_name_is_refused_and_leaves_no_ghost(server, bad):
    mallory = RawSocket(server.url)
    try:
        ack = mallory.call("set_username", {"username": bad})
        assert ack["ok"] is False
        assert ack["error"] in (
            "Your name can't contain lone surrogate characters.",
            "Your name can't contain control characters.",
        )
        assert bad not in names_online(server.url)
        mallory.close()
        assert bad not in names_online(server.url)
        assert_served(server.url)
    finally:
        mallory.close()


def test_a_failed_rename_keeps_the_old_name_its_own(server):
    name = unique("Mal")
    mallory = RawSocket(server.url)
    bea = ChatClient(server.url)
    try:
        assert mallory.call("set_username", {"username": name})["ok"] is True
        ack = mallory.call("set_username", {"username": "Eve\ud800"})
        assert ack == refused("Your name can't contain lone surrogate characters.", Code.BAD_NAME)
        assert name in names_online(server.url)
        # nobody else can take the name Mallory still posts under
        assert bea.call("set_username", {"username": name}) == refused(
            f"The name '{name}' is taken: pick another.", Code.NAME_TAKEN
        )
        bea.set_name(unique("Bea"))
        assert mallory.call("message", {"msg": "still me"})["ok"] is True
        said = bea.wait_message("still me")
        assert said["name"] == name
    finally:
        mallory.close()
        bea.close()


@pytest.mark.parametrize("text", ["a\ud800b", "nul\x00here"])
def test_an_unstorable_message_is_refused_before_storage(server, text):
    mallory = RawSocket(server.url)
    bea = ChatClient(server.url)
    try:
        assert mallory.call("set_username", {"username": unique("Mal")})["ok"] is True
        bea.set_name(unique("Bea"))
        ack = mallory.call("message", {"msg": text})
        assert ack == refused(
            "A message can't contain NUL or lone surrogate characters.", Code.BAD_MESSAGE
        )
        ack = mallory.call("message", {"msg": "ok", "client_id": "c\ud800"})
        assert ack == refused(
            "client_id can't contain NUL or lone surrogate characters.",
            Code.BAD_REQUEST,
            field="client_id",
        )
        mallory.call("message", {"msg": "fine"})
        bea.wait_message("fine")
        assert text not in bea.texts()
    finally:
        mallory.close()
        bea.close()


# ---- items 9 and 12: unsaveable messages fail alone, and are never logged ---------------------


def flood_and_chat(url: str, bad: str) -> tuple[list, list]:
    """5 attackers send 20 unsaveable messages each while 6 users send 20 ordinary ones each,
    all at once; returns (the attackers' acks, the users' acks)."""
    attackers = [ChatClient(url) for _ in range(5)]
    users = [ChatClient(url) for _ in range(6)]
    try:
        for client in attackers + users:
            client.set_name(unique("A" if client in attackers else "U"))
        results: dict[int, list] = {}

        def send(i, client, texts):
            results[i] = client.call_all("message", [{"msg": t} for t in texts], timeout=20)

        threads = [
            threading.Thread(target=send, args=(i, c, [f"{bad} {i}.{n}" for n in range(20)]))
            for i, c in enumerate(attackers)
        ] + [
            threading.Thread(
                target=send, args=(10 + i, c, [f"ordinary {i}.{n}" for n in range(20)])
            )
            for i, c in enumerate(users)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        return (
            [a for i in range(5) for a in results[i]],
            [a for i in range(6) for a in results[10 + i]],
        )
    finally:
        for client in attackers + users:
            client.close()


def test_a_flood_of_unsaveable_messages_fails_no_ordinary_one(server):
    attacks, ordinary = flood_and_chat(server.url, "bad \ud800")
    assert len(ordinary) == 120
    assert [a for a in ordinary if not a["ok"]] == []
    assert {a["error"] for a in attacks} == {
        "A message can't contain NUL or lone surrogate characters."
    }
    assert_served(server.url)


@pytest.fixture(scope="module")
def pg_server(postgres_database):
    url, why_not = postgres_database
    require_service("PostgreSQL", url is not None, why_not or "")
    with ServerProcess({"DATABASE_URL": url, "MAX_CONNECTIONS_PER_IP": "0"}) as srv:
        yield srv


def test_on_postgresql_unsaveable_messages_are_refused_and_never_logged(pg_server):
    secret = unique("body")
    attacks, ordinary = flood_and_chat(pg_server.url, f"{secret} \x00")
    assert secret not in pg_server.output()
    assert [a for a in ordinary if not a["ok"]] == []
    assert {a["error"] for a in attacks} == {
        "A message can't contain NUL or lone surrogate characters."
    }
    assert_served(pg_server.url)


# ---- item 7: behind TRUST_PROXY, the address the trusted proxy saw ----------------------------


def connects(url: str, forwarded_for: str) -> ChatClient | None:
    """A client whose proxy chain says `forwarded_for`; None if the server refused it."""
    client = ChatClient(url, headers={"X-Forwarded-For": forwarded_for}, connect=False)
    try:
        return client.connect()
    except Exception:
        client.close()
        return None


@pytest.mark.parametrize(("trust", "hops"), [("true", 1), ("1", 1), ("2", 2)])
def test_a_client_cannot_choose_its_address_behind_a_trusted_proxy(trust, hops):
    """The proxy appends the address it received from; what is left of it the client wrote.
    A cap of 2 per address: spoofing the leftmost entry neither escapes it nor locks out the
    victim whose address the attacker writes there."""
    proxies = ["10.0.0.1", "10.0.0.2"][: hops - 1]  # inner hops, each appending the one before

    def chain(client_wrote: str, client_is: str) -> str:
        return ", ".join([client_wrote, client_is, *proxies])

    with ServerProcess({"TRUST_PROXY": trust, "MAX_CONNECTIONS_PER_IP": "2"}) as srv:
        held = []
        try:
            # Mallory (198.51.100.66) writes a new address each time: still 2 connections only
            for n in range(6):
                held.append(connects(srv.url, chain(f"203.0.113.{n}", "198.51.100.66")))
            assert sum(c is not None for c in held) == 2
            # ... and writing the victim's address doesn't count against the victim
            for _ in range(3):
                held.append(connects(srv.url, chain("192.0.2.9", "198.51.100.66")))
            victim = [connects(srv.url, chain("192.0.2.9", "192.0.2.9")) for _ in range(2)]
            held += victim
            assert all(victim)
            victim[0].set_name(unique("Victim"))
            victim[0].say("served")
        finally:
            for client in held:
                if client is not None:
                    client.close()


# ---- item 14: HSTS, nosniff, no JSONP, Host checked against DNS rebinding ----------------------


@pytest.fixture(scope="module")
def proxied_server():
    env = {"TRUST_PROXY": "1", "ALLOWED_ORIGINS": "https://chat.example.com"}
    with ServerProcess(env) as srv:
        yield srv


def test_hsts_behind_a_trusted_proxy_that_received_https(proxied_server, server):
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.1"}
    got = requests.get(proxied_server.url + "/", headers=https, timeout=5)
    assert got.headers["Strict-Transport-Security"] == "max-age=31536000"
    polled = requests.get(
        proxied_server.url + "/socket.io/?EIO=4&transport=polling", headers=https, timeout=5
    )
    assert polled.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = requests.get(proxied_server.url + "/", timeout=5)
    assert "Strict-Transport-Security" not in plain.headers
    # without TRUST_PROXY the header is the client's word: no HSTS
    direct = requests.get(server.url + "/", headers=https, timeout=5)
    assert "Strict-Transport-Security" not in direct.headers


def test_socketio_responses_have_nosniff(server):
    polled = requests.get(server.url + "/socket.io/?EIO=4&transport=polling", timeout=5)
    assert polled.status_code == 200
    assert polled.headers["X-Content-Type-Options"] == "nosniff"
    refused = requests.get(server.url + "/socket.io/?EIO=4&transport=nope", timeout=5)
    assert refused.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("query", ["j=0", "j=", "b64=1&j=3"])
def test_jsonp_polling_is_refused(server, query):
    got = requests.get(server.url + f"/socket.io/?EIO=4&transport=polling&{query}", timeout=5)
    assert got.status_code == 400
    assert got.text == "JSONP polling is not supported: use XHR long-polling or WebSocket."
    assert "___eio" not in got.text
    assert_served(server.url)


def test_a_rebound_host_name_is_refused(server):
    """DNS rebinding: evil.example resolves to this server; the browser sends Host and Origin
    of evil.example, which agree, so the same-origin check alone lets it in."""
    rebound = f"evil.example:{server.port}"
    headers = {"Host": rebound, "Origin": f"http://{rebound}"}
    page = requests.get(server.url + "/", headers=headers, timeout=5)
    assert page.status_code == 421
    assert page.text == "Unknown host: add this site's origin to ALLOWED_ORIGINS."
    polled = requests.get(
        server.url + "/socket.io/?EIO=4&transport=polling", headers=headers, timeout=5
    )
    assert polled.status_code == 421
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket",
            host=rebound,
            origin=f"http://{rebound}",
            timeout=5,
        )
    assert refused.value.status_code == 421
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
        assert requests.get(server.url + "/", headers={"Host": host}, timeout=5).ok
    assert_served(server.url)


def test_the_hosts_of_allowed_origins_are_served(proxied_server):
    headers = {"Host": "chat.example.com", "Origin": "https://chat.example.com"}
    assert requests.get(proxied_server.url + "/", headers=headers, timeout=5).ok
    other = {"Host": "evil.example", "X-Forwarded-Host": "chat.example.com, evil.example"}
    assert requests.get(proxied_server.url + "/", headers=other, timeout=5).status_code == 421


# ---- item 13: joins per address ------------------------------------------------------------------

TOO_MANY_NAMES = re.compile(r"Too many names taken from your address: wait (\d+\.\d) s\.")


def test_connect_name_leave_cycles_are_limited_per_address():
    """JOIN_RATE at its default (30/60): one address cycling connect / name / leave gets 30
    entries announced, then one every 2 s; another address is served all along."""
    env = {"TRUST_PROXY": "1", "JOIN_RATE": "", "MAX_CONNECTIONS_PER_IP": "0"}
    with ServerProcess(env) as srv:
        watcher = ChatClient(srv.url, headers={"X-Forwarded-For": "192.0.2.10"})
        try:
            watcher.set_name(unique("Watcher"))
            refusals = []
            for n in range(45):
                mallory = ChatClient(srv.url, headers={"X-Forwarded-For": "198.51.100.66"})
                ack = mallory.call("set_username", {"username": f"Spam-{n}"})
                if not ack["ok"]:
                    refusals.append(ack["error"])
                mallory.close()
                if n == 35:  # during the attack, another address joins and chats
                    with ChatClient(srv.url, headers={"X-Forwarded-For": "192.0.2.11"}) as bea:
                        bea.set_name(unique("Bea"))
                        bea.say("served during")
                        watcher.wait_message("served during")
            entered = [t for t in watcher.texts() if t.startswith("Spam-") and "entered" in t]
            assert 30 <= len(entered) <= 30 + len(refusals) // 10
            assert len(refusals) >= 10
            assert all(TOO_MANY_NAMES.fullmatch(r) for r in refusals), refusals[:3]
            # still refused: the bucket refills at one name every 2 s
            again = ChatClient(srv.url, headers={"X-Forwarded-For": "198.51.100.66"})
            with again:
                assert TOO_MANY_NAMES.fullmatch(
                    again.call("set_username", {"username": "Spam-x"})["error"]
                )
            with ChatClient(srv.url, headers={"X-Forwarded-For": "192.0.2.12"}) as cai:
                cai.set_name(unique("Cai"))
                cai.say("served after")
                watcher.wait_message("served after")
        finally:
            watcher.close()


# ---- item 4: no legal state makes an answer a client can't receive -----------------------------

EMOJI_2000 = "\U0001f600" * 2000  # a legal message: 24 KB once JSON-escaped


@pytest.fixture(scope="module")
def small_backlog_server():
    """MAX_BACKLOG_BYTES at its minimum (64 KiB), so a few legal messages or a few hundred
    names outgrow it, as 54 such messages or ~3,000 names outgrow the default 1 MiB."""
    env = {"MAX_BACKLOG_BYTES": "65536", "MAX_CONNECTIONS_PER_IP": "0"}
    with ServerProcess(env) as srv:
        yield srv


def test_a_joiner_is_served_whatever_the_size_of_recent_history(small_backlog_server):
    url = small_backlog_server.url
    with ChatClient(url) as ada:
        ada.set_name(unique("Ada"))
        sent = [ada.say(f"{n:04d}" + EMOJI_2000[4:])["id"] for n in range(6)]  # 144 KB
        for _ in range(3):  # the page reconnected in a loop: each joiner must stay
            with ChatClient(url) as bea:
                bea.set_name(unique("Bea"))
                history = bea.wait_for("history")
                assert history["has_more"] is True
                seen = [m["id"] for m in history["messages"]]
                while True:
                    page = bea.call("history", {"before": seen[0], "limit": 200})
                    seen = [m["id"] for m in page["messages"]] + seen
                    if not page["has_more"]:
                        break
                assert seen == sorted(set(seen))  # in order, each once
                assert [i for i in seen if i in sent] == sent
                ada.say("still here")
                bea.wait_message("still here")
                assert bea.connected


def test_the_users_answer_is_paged_so_the_asker_stays(small_backlog_server):
    url = small_backlog_server.url
    crowd = []
    try:
        for n in range(200):  # ~390 bytes each in the answer: 78 KB of names
            raw = RawSocket(url)
            crowd.append(raw)
            ack = raw.call("set_username", {"username": f"{n:04x}" + "\U0001f600" * 28})
            assert ack["ok"], ack
        with ChatClient(url) as probe:
            names, payload = [], {}
            while True:
                ack = probe.call("users", payload)
                assert ack["ok"] is True
                names += ack["users"]
                if not ack["has_more"]:
                    break
                payload = {"after": ack["users"][-1]}
            assert len(names) == ack["count"] >= 200
            assert probe.connected
            probe.set_name(unique("Probe"))
            crowd[0].emit("message", {"msg": "hello probe"})
            probe.wait_message("hello probe")
    finally:
        for raw in crowd:
            raw.close()
