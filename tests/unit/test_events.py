"""The shared handler seams (rpschat/web/events.py): strict client packets, acks noted at decode,
refusals as an ack or an `error` event, internal errors logged once. Threading mode (the test
client); tests/net/test_packets.py runs the same seams on the real eventlet server."""

from __future__ import annotations

import logging

import pytest

from rpschat.domain.errors import Code, Refused
from rpschat.storage.common import StorageUnavailable
from rpschat.web.events import (
    INTERNAL_ERROR,
    ClientPacket,
    MalformedPacket,
    answer_later,
    asked_for_ack,
)
from rpschat.web.handlers import client_events
from tests.support.refusals import error_event, refused
from tests.unit.conftest import events

# Socket.IO packets as they arrive inside an Engine.IO "4" message
MALFORMED = [
    "abc",  # no packet type (the official suite's "4abc")
    "2{}",  # an event that is not a list (the suite's "42{}")
    '2abc["message-with-ack",1]',  # an ack id that is not a number (the suite's "42abc[...]")
    "2[]",  # no event name
    "2[null]",  # a name that is neither a string nor a number
    '2["connect",{}]',  # reserved names would reach the connect handler
    '2["disconnect"]',
    "2",  # an event with no data at all
    '4"no"',  # CONNECT_ERROR only goes to clients
    '9["x"]',  # no such type
    '0"token"',  # CONNECT takes an object
    '51-["x",{"_placeholder":true,"num":0}',  # a binary header that is not JSON
    '5["x"]',  # BINARY_EVENT without attachments
    '21-["x"]',  # attachments on a plain EVENT
    "3[]",  # an ack without an id
    '31{"a":1}',  # an ack that is not a list
    "2" + "1" * 101 + '["x"]',  # an id too long
]


@pytest.mark.parametrize("encoded", MALFORMED)
def test_malformed_packets_are_refused_at_decode(encoded):
    with pytest.raises(MalformedPacket):
        ClientPacket(encoded_packet=encoded)


@pytest.mark.parametrize(
    "encoded",
    ['2["x",{}]', '21["x"]', "2[7]", '2/custom,["x"]', "0", '0{"token":"t"}', "1", '31["a"]'],
)
def test_well_formed_packets_decode(encoded):
    ClientPacket(encoded_packet=encoded)


def test_decoding_an_event_notes_whether_it_asked_for_an_ack():
    ClientPacket(encoded_packet='2["x",{}]')
    assert asked_for_ack() is False
    ClientPacket(encoded_packet='212["x",{}]')
    assert asked_for_ack() is True
    header = ClientPacket(encoded_packet='51-["x",{"_placeholder":true,"num":0}]')
    ClientPacket(encoded_packet='21["y"]')
    assert header.add_attachment(b"\x01") is True  # the binary event's handler runs now
    assert asked_for_ack() is False


def test_refusals_are_acks_or_error_events_never_both(harness):
    client = harness.client()
    assert client.emit("typing", {"typing": True}, callback=True) == refused(
        "Pick a name before you chat.", Code.NAME_REQUIRED
    )
    assert events(client, "error") == []
    client.emit("typing", {"typing": True})
    assert events(client, "error") == [
        error_event("typing", "Pick a name before you chat.", Code.NAME_REQUIRED)
    ]


def test_successes_without_an_ack_are_silent(harness):
    ada, _ = harness.join("Ada")
    ada.emit("typing", {"typing": True})
    assert events(ada, "error") == []


def test_unknown_numeric_event_names_are_refused_by_name(harness):
    client = harness.client()
    assert client.emit(7, {}, callback=True) == refused("Unknown event '7'.", Code.UNKNOWN_EVENT)
    client.emit(7, {})
    assert events(client, "error") == [error_event("7", "Unknown event '7'.", Code.UNKNOWN_EVENT)]


class Records(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def error_log():
    handler = Records()
    logging.getLogger().addHandler(handler)
    yield handler.records
    logging.getLogger().removeHandler(handler)


def test_a_bug_is_answered_with_the_internal_error_and_logged_once(harness, monkeypatch, error_log):
    ada, _ = harness.join("Ada")

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(harness.services.directory, "names", broken)  # a bug under `users`
    assert ada.emit("users", {}, callback=True) == refused(INTERNAL_ERROR, Code.INTERNAL_ERROR)
    assert [r.exc_info[1].args for r in error_log] == [("boom",)]
    ada.emit("users", {})
    assert events(ada, "error") == [error_event("users", INTERNAL_ERROR, Code.INTERNAL_ERROR)]
    assert len(error_log) == 2
    assert ada.emit("typing", {"typing": False}, callback=True) == {"ok": True}


def test_a_refusal_is_not_logged_as_an_error(harness, monkeypatch, error_log):
    client = harness.client()

    def refuse():
        raise Refused(Code.UNAVAILABLE, "Not now.", retry_after=2.5)

    monkeypatch.setattr(harness.services.directory, "names", refuse)
    assert client.emit("users", {}, callback=True) == {
        "ok": False,
        "code": "unavailable",
        "error": "Not now.",
        "retry_after": 2.5,
    }
    assert error_log == []


def test_every_client_event_is_declared_with_socketio_on(harness):
    declared = set(client_events(harness.socketio))
    assert {"set_username", "message", "users", "typing", "history"} <= declared
    assert {"find_match", "throw", "game_chat", "leaderboard", "watch", "rematch"} <= declared
    handlers = harness.socketio.server.handlers["/"]
    assert {"connect", "disconnect", "*"} <= set(handlers)


def test_event_request_contexts_bind_no_url_and_open_no_session(harness):
    import flask
    from flask.sessions import NullSession

    app = harness.flask_app
    with app.test_request_context("/socket.io/"):
        assert isinstance(flask.session._get_current_object(), NullSession)
        assert flask.globals.request_ctx.url_adapter is None
    with app.test_request_context("/"):  # the page keeps Flask's defaults
        assert not isinstance(flask.session._get_current_object(), NullSession)
        assert flask.globals.request_ctx.url_adapter is not None


def test_teardown_functions_and_signal_still_run_when_registered(harness):
    import flask

    app, heard = harness.flask_app, []
    app.teardown_request(lambda exc: heard.append("function"))

    def receiver(sender, **extra):
        heard.append("signal")

    with (
        flask.request_tearing_down.connected_to(receiver, app),
        app.test_request_context("/socket.io/"),
    ):
        pass
    assert heard == ["function", "signal"]


class _Str(str):
    pass


BINARY_OR_NOT = [
    None,
    "x",
    1,
    1.5,
    True,
    b"x",
    bytearray(b"x"),
    _Str("x"),
    ["round_result", {"game_id": "g", "moves": {"a": "rock"}, "score": {"a": 1}}],
    ["x", {"a": [1, {"b": b"deep"}]}],
    ["x", {"a": (1, b"in a tuple")}],  # python-socketio looks into lists and dicts only
    type("L", (list,), {})([1, b"x"]),
    type("D", (dict,), {})(a=bytearray(b"x")),
    [[], {}, [[[None]]]],
    ["x", 2**70, b"y"],  # what orjson refuses is looked into
    {"a": memoryview(b"x")},
    ["x", {1: bytearray(b"y")}],
]


@pytest.mark.parametrize("data", BINARY_OR_NOT)
def test_data_is_binary_answers_as_python_socketio_does(data):
    from socketio.packet import Packet

    assert ClientPacket.data_is_binary(data) == Packet.data_is_binary(data)


class FakeServer:
    """What answer_later uses of a socketio.Server."""

    packet_class = ClientPacket

    def __init__(self):
        self.sent, self.emitted = [], []
        self.manager = type("M", (), {"eio_sid_from_sid": lambda _self, sid, ns: "eio-" + sid})()
        self.eio = type("E", (), {"send": lambda _self, eio_sid, data: self.sent.append(data)})()

    def emit(self, event, data, to=None):
        self.emitted.append((event, data, to))


def test_a_deferred_answer_goes_out_as_the_ack_it_was_asked_for():
    server = FakeServer()
    answer_later(server, "s1", 7, "message", lambda: {"ok": True, "id": 3})()
    assert server.sent == ['37[{"ok":true,"id":3}]'] and server.emitted == []


def test_a_deferred_refusal_without_ack_goes_out_as_an_error_event(error_log):
    server = FakeServer()

    def refused():
        raise StorageUnavailable()

    answer_later(server, "s1", None, "message", refused)()
    error = {
        "event": "message",
        "code": "unavailable",
        "error": "The server could not save that: try again in a moment.",
        "retry_after": 1.0,
    }
    assert server.emitted == [("error", error, "s1")] and server.sent == []
    answer_later(server, "s1", None, "message", lambda: {"ok": True})()  # success: silent
    assert len(server.emitted) == 1 and error_log == []


def test_a_deferred_bug_is_the_internal_error_logged_once(error_log):
    server = FakeServer()

    def broken():
        raise RuntimeError("boom")

    answer_later(server, "s1", 2, "game_chat", broken)()
    assert server.sent == [
        '32[{"ok":false,"code":"internal_error","error":"' + INTERNAL_ERROR + '"}]'
    ]
    assert len(error_log) == 1
