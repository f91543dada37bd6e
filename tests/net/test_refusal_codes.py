"""Refusal codes on the real wire (docs/protocol.md, "Errors"): `connect_error`'s `data` (which
Flask-SocketIO's test client drops), and acks and `error` events as a real client reads them."""

from __future__ import annotations

import re

import pytest
import socketio

from tests.support.clients import unique
from tests.support.server import ServerProcess

PASSWORD = "correct horse"
WAIT = re.compile(r"wait (\d+\.\d) s\.$")


@pytest.fixture(scope="module")
def server():
    env = {
        "MODERATORS": "Mod",
        "TRUST_PROXY": "1",  # each test's clients come from addresses of their own
        "MAX_CONNECTIONS_PER_IP": "2",
        "RATE_LIMIT": "2/60",
        "PASSWORD_HASH_KIB": "64",
    }
    with ServerProcess(env) as srv:
        yield srv


def from_address(address: str) -> dict:
    return {"headers": {"X-Forwarded-For": address}}


def refused_connect(pool, **options) -> dict:
    """The `connect_error` a refused client receives."""
    client = pool.client(connect=False, **options)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect()
    [error] = client.received("connect_error")
    return error


def test_a_bad_auth_is_refused_with_a_code_and_the_field(pool):
    error = refused_connect(pool, auth={"last_id": -1}, **from_address("192.0.2.1"))
    assert error == {
        "message": "last_id must be a whole number from 0 to 9223372036854775807.",
        "data": {"code": "bad_request", "field": "last_id"},
    }


def test_too_many_connections_from_one_address_is_a_code(pool):
    for _ in range(2):
        pool.client(**from_address("192.0.2.2"))
    error = refused_connect(pool, **from_address("192.0.2.2"))
    assert error == {
        "message": "Too many connections from your address.",
        "data": {"code": "too_many_connections"},
    }


def test_a_banned_address_is_told_how_long_to_wait(pool):
    mod = pool.join("Mod", **from_address("192.0.2.3"))
    assert mod.call("claim_name", {"password": PASSWORD})["ok"]
    name = unique("Bea")
    bea = pool.join(name, **from_address("192.0.2.4"))
    ban = mod.call("mod_ban", {"name": name, "minutes": 60})
    assert ban["ok"]
    bea.wait_for("disconnect")  # a ban removes the user at once
    error = refused_connect(pool, **from_address("192.0.2.4"))
    assert error["message"].startswith("You are banned until ")
    data = error["data"]
    assert data["code"] == "banned" and data["until"] == ban["until"]
    assert 3500 < data["retry_after"] <= 3600
    assert set(data) == {"code", "retry_after", "until"}


def test_a_rate_limit_says_how_long_to_wait_in_the_ack_and_the_error_event(pool):
    ada = pool.join(unique("Ada"), **from_address("192.0.2.5"))
    assert ada.say("one")["ok"] and ada.say("two")["ok"]
    ack = ada.call("message", {"msg": "three"})
    assert ack["ok"] is False and ack["code"] == "rate_limited"
    assert ack["retry_after"] == float(WAIT.search(ack["error"]).group(1)) > 0
    assert set(ack) == {"ok", "code", "error", "retry_after"}
    ada.emit("message", {"msg": "four"})
    error = ada.wait_for("error")
    assert error["event"] == "message" and error["code"] == "rate_limited"
    assert error["retry_after"] > 0 and set(error) == {"event", "code", "error", "retry_after"}


def test_a_bad_field_and_an_unknown_event_carry_their_codes(pool):
    ada = pool.join(unique("Ada"), **from_address("192.0.2.6"))
    assert ada.call("typing", {"typing": "yes"}) == {
        "ok": False,
        "code": "bad_request",
        "error": "typing must be true or false.",
        "field": "typing",
    }
    assert ada.call("launch", {}) == {
        "ok": False,
        "code": "unknown_event",
        "error": "Unknown event 'launch'.",
    }
