"""The seed's chat protocol end to end: a real server process, real Socket.IO clients.

python-socketio clients over WebSocket and over long-polling, and the official JS client
(socket.io-client 4.8.4, the one the page uses). See docs/protocol.md, "Chat (the seed's
protocol, kept)" and "Errors"."""

from __future__ import annotations

import threading
import time

import pytest

from rpschat.domain.errors import Code
from tests.support.clients import ChatClient, run_js, unique
from tests.support.refusals import error_event, refused
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net

TRANSPORTS = ["websocket", "polling"]
TOO_FAST = "You are sending too fast"


@pytest.fixture(scope="module")
def server():
    # Default settings: RESUME_GRACE_SECONDS is 10, so a leave announced within a few seconds
    # can only be a disconnect the server recognised as voluntary.
    with ServerProcess() as srv:
        yield srv


def is_system(txt):
    return lambda d: isinstance(d, dict) and d.get("name") is None and d.get("txt") == txt


def from_user(name, txt):
    return lambda d: isinstance(d, dict) and d.get("name") == name and d.get("txt") == txt


def roundtrip(client: ChatClient) -> None:
    """Every event the server sent this client before now has been received."""
    ack = client.call("users", {})
    assert ack["ok"], ack


def now_ms() -> int:
    return int(time.time() * 1000)


# ---- set_username --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_set_username_acks_the_stored_name_and_announces_the_entry_to_the_others(pool, transport):
    watcher = pool.join(unique("Watcher"), transports=[transport])
    ada = pool.client(transports=[transport])
    assert ada.transport == transport
    name = unique("Ada")

    ack = ada.call("set_username", {"username": f"  {name}  "})

    assert ack["ok"] is True
    assert ack["username"] == name  # trimmed, as stored
    assert isinstance(ack["token"], str) and len(ack["token"]) >= 32
    entered = watcher.wait_for("message", is_system(f"{name} has entered the chat!"))
    assert entered == {"name": None, "txt": f"{name} has entered the chat!"}
    presence = watcher.wait_for("presence", lambda d: d.get("name") == name)
    assert presence["action"] == "join" and presence["count"] >= 2
    # the caller gets the history instead of its own entry line
    history = ada.wait_for("history")
    assert isinstance(history["messages"], list) and isinstance(history["has_more"], bool)
    roundtrip(ada)
    assert f"{name} has entered the chat!" not in ada.texts()


def test_names_are_unique_case_insensitively_and_keep_their_spelling(pool):
    name = unique("Grace")
    first = pool.join(name)
    second = pool.client()

    ack = second.call("set_username", {"username": name.upper()})

    assert ack == refused(f"The name '{name.upper()}' is taken: pick another.", Code.NAME_TAKEN)
    assert second.call("users", {})["users"].count(name) == 1
    assert first.call("set_username", {"username": name})["username"] == name


# ---- message -------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_message_reaches_everyone_but_its_sender(pool, transport):
    ada = pool.join(unique("Ada"), transports=[transport])
    bea = pool.join(unique("Bea"), transports=["websocket"])
    cy = pool.join(unique("Cy"), transports=["polling"])
    text = f"hello from {ada.name} <b>not html</b>  "  # verbatim: no trimming, no escaping

    ack = ada.call("message", {"msg": text})

    assert ack["ok"] is True
    assert isinstance(ack["id"], int) and ack["id"] > 0
    assert isinstance(ack["ts"], int) and abs(ack["ts"] - now_ms()) < 60_000
    for other in (bea, cy):
        got = other.wait_for("message", from_user(ada.name, text))
        assert got == {"name": ada.name, "txt": text, "id": ack["id"], "ts": ack["ts"]}
    # Bea answers; when Ada has Bea's answer she would have had her own message before it
    bea.say(f"answer to {ada.name}")
    ada.wait_for("message", from_user(bea.name, f"answer to {ada.name}"))
    assert text not in ada.texts()


def test_message_ids_grow_in_the_order_messages_are_acked(pool):
    ada = pool.join(unique("Ada"))
    bea = pool.join(unique("Bea"), transports=["polling"])
    ids = [ada.say("one")["id"], bea.say("two")["id"], ada.say("three")["id"]]
    assert ids == sorted(ids) and len(set(ids)) == 3


# ---- disconnect ----------------------------------------------------------------------------


def test_explicit_disconnect_of_the_official_js_client_is_announced_at_once(server, pool, node):
    watcher = pool.join(unique("Watcher"))
    name = unique("Jo")
    started = time.monotonic()

    report = run_js(
        {
            "url": server.url,
            "clients": {"jo": {"transports": ["websocket"]}},
            "steps": [
                {"connect": "jo"},
                {"call": "set_username", "client": "jo", "data": {"username": name}},
                {"disconnect": "jo"},
                {"sleep": 200},
            ],
        }
    )

    assert report["events"]["jo"][-1] == ["disconnect", "io client disconnect"]
    # RESUME_GRACE_SECONDS is 10: the line comes at once only for a voluntary leave
    left = watcher.wait_for("message", is_system(f"{name} has left the chat!"), timeout=4)
    assert left == {"name": None, "txt": f"{name} has left the chat!"}
    assert time.monotonic() - started < 8
    leave = watcher.wait_for("presence", lambda d: d.get("action") == "leave" and d["name"] == name)
    assert name not in watcher.call("users", {})["users"]
    assert leave["count"] >= 1


def test_explicit_disconnect_over_long_polling_is_announced_at_once(pool):
    watcher = pool.join(unique("Watcher"))
    leaver = pool.join(unique("Leaver"), transports=["polling"])

    leaver.disconnect()

    watcher.wait_for("message", is_system(f"{leaver.name} has left the chat!"), timeout=4)
    assert leaver.name not in watcher.call("users", {})["users"]


def test_a_lost_connection_is_announced_after_the_grace_period():
    """python-socketio's disconnect() over WebSocket closes the transport right after queueing
    the DISCONNECT packet, so the server may see a lost connection. A lost connection holds
    the name for RESUME_GRACE_SECONDS (here 1), then the leave is announced as in the seed."""
    with ServerProcess({"RESUME_GRACE_SECONDS": "1"}) as srv:
        watcher = ChatClient(srv.url)
        leaver = ChatClient(srv.url)
        again = ChatClient(srv.url)
        try:
            watcher.set_name(unique("Watcher"))
            leaver.set_name(unique("Leaver"))
            dropped = time.monotonic()
            leaver.sio.eio.ws.close()  # the transport drops without a DISCONNECT packet

            line = f"{leaver.name} has left the chat!"
            watcher.wait_for("message", is_system(line), timeout=6)
            held = time.monotonic() - dropped
            assert 0.8 <= held < 6, held
            assert leaver.name not in watcher.call("users", {})["users"]
            assert again.set_name(leaver.name)["username"] == leaver.name  # the name is free
        finally:
            for client in (watcher, leaver, again):
                client.close()


# ---- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_refusals_come_as_error_events_to_clients_without_acks(pool, transport):
    client = pool.client(transports=[transport])

    client.emit("message", {"msg": "too early"})
    client.emit("set_username", None)  # the seed crashed on this
    client.emit("set_username", {"username": "   "})

    assert client.wait_for("error", lambda d: d["event"] == "message") == error_event(
        "message", "Pick a name before you chat.", Code.NAME_REQUIRED
    )
    errors = client.wait_for_count("error", 3)
    assert errors[1:] == [
        error_event("set_username", 'Send an object like {username: "Ada"}.', Code.BAD_REQUEST),
        error_event("set_username", "Your name can't be empty.", Code.BAD_NAME),
    ]
    # nothing closed the connection, and a success without an ack is silent
    name = unique("Late")
    client.emit("set_username", {"username": name})
    client.emit("message", {"msg": ""})
    client.emit("message", "not an object")
    errors = client.wait_for_count("error", 5)
    assert errors[3:] == [
        error_event("message", "A message can't be empty.", Code.BAD_MESSAGE),
        error_event("message", 'Send an object like {msg: "hello"}.', Code.BAD_REQUEST),
    ]
    assert client.connected
    assert name in client.call("users", {})["users"]
    assert len(client.received("error")) == 5


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_refusals_come_as_acks_to_clients_with_acks(pool, transport):
    client = pool.join(unique("Ada"), transports=[transport])
    cases = [
        ("message", {"msg": "   "}, "A message can't be empty."),
        ("message", {"msg": 42}, "A message must be a string."),
        ("message", {"msg": "x" * 2001}, "A message can be at most 2000 characters."),
        ("message", ["hello"], 'Send an object like {msg: "hello"}.'),
        (
            "message",
            {"msg": "hi", "client_id": ""},
            "client_id must be a string of 1 to 64 characters.",
        ),
        ("set_username", {"username": 7}, "Your name must be a string."),
        ("set_username", {"username": "x" * 33}, "Your name can be at most 32 characters."),
        ("set_username", {"username": "a\nb"}, "Your name can't contain control characters."),
    ]
    for event, payload, reason in cases:
        assert client.call(event, payload) == refused(reason), (event, payload)
    roundtrip(client)
    assert client.received("error") == []  # refusals with an ack are not sent twice
    assert client.connected


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unknown_events_are_refused_by_name_and_the_connection_stays(pool, transport):
    client = pool.join(unique("Ada"), transports=[transport])

    assert client.call("lizard", {"x": 1}) == refused("Unknown event 'lizard'.", Code.UNKNOWN_EVENT)
    client.emit("spock", {})
    assert client.wait_for("error") == error_event(
        "spock", "Unknown event 'spock'.", Code.UNKNOWN_EVENT
    )
    assert client.say("still here")["ok"]


# ---- the official JS client ----------------------------------------------------------------


@pytest.mark.parametrize("transports", [["websocket"], ["polling"], ["polling", "websocket"]])
def test_the_official_js_client_speaks_the_seed_protocol(server, pool, node, transports):
    watcher = pool.join(unique("Watcher"))
    ada, bea = unique("Ada"), unique("Bea")
    hello, answer, to_js = f"hello from {ada}", f"hi {ada}", f"python says hi to {ada}"

    def python_speaks():
        watcher.wait_for("message", from_user(ada, hello), timeout=15)
        watcher.say(to_js)

    speaker = threading.Thread(target=python_speaks, daemon=True)
    speaker.start()
    report = run_js(
        {
            "url": server.url,
            "clients": {"ada": {"transports": transports}, "bea": {"transports": transports}},
            "steps": [
                {"connect": "ada"},
                {"connect": "bea"},
                {"call": "set_username", "client": "ada", "data": {"username": ada}, "save": "a"},
                {"call": "set_username", "client": "bea", "data": {"username": bea}},
                {
                    "wait": "message",
                    "client": "ada",
                    "match": {"txt": f"{bea} has entered the chat!"},
                },
                {"call": "message", "client": "ada", "data": {"msg": hello}, "save": "sent"},
                {
                    "wait": "message",
                    "client": "bea",
                    "match": {"name": ada, "txt": hello},
                    "save": "got",
                },
                {"emit": "message", "client": "bea", "data": {"msg": answer}},
                {"wait": "message", "client": "ada", "match": {"name": bea, "txt": answer}},
                {"wait": "message", "client": "ada", "match": {"txt": to_js}},
                {"emit": "message", "client": "ada", "data": {"msg": ""}},
                {"wait": "error", "client": "ada", "save": "error"},
                {"call": "nope", "client": "ada", "data": {}, "save": "unknown"},
                {"disconnect": "bea"},
                {"wait": "message", "client": "ada", "match": {"txt": f"{bea} has left the chat!"}},
            ],
        },
    )
    speaker.join(5)

    saved = report["saved"]
    assert saved["a"]["ok"] is True and saved["a"]["username"] == ada and saved["a"]["token"]
    assert saved["sent"]["ok"] is True and isinstance(saved["sent"]["id"], int)
    assert saved["got"] == {
        "name": ada,
        "txt": hello,
        **{k: saved["sent"][k] for k in ("id", "ts")},
    }
    assert saved["error"] == error_event("message", "A message can't be empty.", Code.BAD_MESSAGE)
    assert saved["unknown"] == refused("Unknown event 'nope'.", Code.UNKNOWN_EVENT)
    ada_texts = [d.get("txt") for e, d in report["events"]["ada"] if e == "message"]
    assert hello not in ada_texts  # the sender does not get its own message back
    assert f"{ada} has entered the chat!" not in ada_texts
    # the python client saw both JS users come, talk and (Bea) leave
    watcher.wait_for("message", is_system(f"{ada} has entered the chat!"))
    watcher.wait_for("message", from_user(bea, answer))
    watcher.wait_for("message", is_system(f"{bea} has left the chat!"))
