"""The packets' JSON module (rpschat/web/wire_json.py): the standard library's bytes and values,
whichever library produced them."""

from __future__ import annotations

import json
import math

import pytest
from engineio import json as engineio_json

from rpschat.web import wire_json

COMPACT = (",", ":")

VALUES = [
    ["round_result", {"game_id": "g7Hk", "round": 2, "moves": {"a": "rock", "b": None}}],
    ["message", {"name": "Zoë", "txt": 'héllo 😀 \u2028 \x00 \x1f \x7f "q" \\ /'}],
    {"winner": None, "timeout": False, "ok": True},
    [0, -1, 2**63 - 1, -(2**63), 2**64, 10**30, -(10**40)],  # beyond 64 bits: orjson refuses
    [0.1, 1.5, -0.0, 1e-05, 2.5e-07, 1e16, 1.2345678901234568e17, 5e-324, 1.7976931348623157e308],
    {1: "a non-string key"},
    ["e-mail", "x0.00001"],  # what the float check reacts to, in strings
    [],
    "",
]


@pytest.mark.parametrize("value", VALUES)
def test_packets_are_encoded_as_the_standard_library_does(value):
    assert wire_json.dumps(value, separators=COMPACT) == json.dumps(value, separators=COMPACT)


def test_other_options_get_the_standard_librarys_defaults():
    # engineio's error bodies: json.dumps(message) with its default separators
    assert wire_json.dumps({"message": "x"}) == '{"message": "x"}'
    assert wire_json.dumps([1], indent=1) == json.dumps([1], indent=1)


TEXTS = [
    '["throw",{"game_id":"g7Hk","move":"rock"}]',
    '["x","\\u00e9\\ud83d\\ude00",1.5e3,-0,1E400,NaN,-Infinity]',
    "[123456789012345678901234567890]",  # an int beyond 64 bits stays an int
    "[-9223372036854775809, 18446744073709551615]",
    '["\\ud800"]',  # a lone surrogate
    '{"a":1,"a":2}',
    "  [1] \n",
]


def same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or repr(a) == repr(b)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("text", TEXTS)
def test_packets_decode_to_the_values_engineio_reads(text):
    assert same(wire_json.loads(text), engineio_json.loads(text))


@pytest.mark.parametrize("text", ["[1,]", "{'a':1}", '["\x01"]', "\ufeff[1]", "[1] x", "1" * 101])
def test_what_engineio_refuses_is_refused(text):
    with pytest.raises(ValueError):
        engineio_json.loads(text)
    with pytest.raises(ValueError):
        wire_json.loads(text)


def test_the_server_encodes_and_decodes_packets_with_it(harness):
    import engineio.packet

    assert harness.socketio.server.packet_class.json is wire_json
    assert engineio.packet.Packet.json is wire_json  # the handshake's OPEN packet
