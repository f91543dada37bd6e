"""Every handler fed arbitrary JSON: no exception escapes, every call gets a clear answer, and
every refusal carries a registered code (and only the details that code declares)."""

import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpschat.domain.errors import Code
from rpschat.web.handlers import client_events
from tests.unit.conftest import Harness

# NaN and the infinities too: python-engineio decodes packets with the standard library's json,
# which reads a client's `NaN`, `Infinity` and `-Infinity`
json_scalars = st.none() | st.booleans() | st.integers() | st.floats()
json_scalars |= st.text(max_size=50)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
# Payloads that look like the real ones, with fields of any type, find deeper paths than noise.
FIELDS = ["username", "msg", "client_id", "typing", "before", "after", "limit", "best_of",
          "game_id", "move", "to", "challenge_id", "accept", "password",
          "id", "name", "minutes", "reason", "opponent", "text", "with"]  # fmt: skip
plausible = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4)
payloads = json_values | plausible


def is_clear_answer(ack) -> bool:
    if not isinstance(ack, dict) or not isinstance(ack.get("ok"), bool):
        return False
    if ack["ok"]:
        return True
    return is_coded_refusal(ack, {"ok"})


def is_coded_refusal(answer: dict, fixed: set[str]) -> bool:
    """A clear sentence, a registered code, and no key but the details that code declares."""
    error, code = answer.get("error"), answer.get("code")
    if not (isinstance(error, str) and 0 < len(error) < 300 and "Traceback" not in error):
        return False
    if not isinstance(code, str) or code not in Code._value2member_map_:
        return False
    return answer.keys() - fixed - {"code", "error"} <= set(Code(code).details)


class ErrorLog(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def all_events(harness):
    return client_events(harness.socketio) + ["no_such_event"]


def test_every_event_is_known_to_the_fuzzer():
    harness = Harness(chat_rate=None, other_rate=None)
    try:
        assert {"set_username", "message", "users", "typing", "history", "claim_name",
                "release_name", "mod_delete", "mod_mute", "mod_unmute", "mod_kick", "mod_ban",
                "mod_log", "report", "ignore", "unignore"} <= set(all_events(harness))  # fmt: skip
    finally:
        harness.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(calls=st.lists(st.tuples(st.integers(0, 100), payloads), min_size=1, max_size=12))
def test_arbitrary_json_to_every_handler_gets_a_clear_answer(calls):
    harness = Harness(
        chat_rate=None,
        other_rate=None,
        round_seconds=60.0,
        password_hash_kib=64,
        moderators=("Fuzzer",),
    )
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    try:
        named, _ = harness.join("Fuzzer")
        # a moderator: the moderators' events run past their permission check too
        named.emit("claim_name", {"password": "fuzzer password"}, callback=True)
        anonymous = harness.client()
        events = all_events(harness)
        for index, payload in calls:
            event = events[index % len(events)]
            for client in (named, anonymous):
                ack = client.emit(event, payload, callback=True)
                assert is_clear_answer(ack), (event, payload, ack)
                assert client.is_connected()
        assert named.emit("users", {}, callback=True)["ok"]  # the server is still serving
        assert errors.records == [], [r.getMessage() for r in errors.records]
    finally:
        logging.getLogger().removeHandler(errors)
        harness.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, extra=st.lists(json_values, max_size=3))
def test_extra_arguments_and_no_ack_never_break_a_connection(payload, extra):
    harness = Harness(chat_rate=None, other_rate=None)
    try:
        client, _ = harness.join("Ada")
        for event in all_events(harness):
            client.emit(event, payload, *extra)
            for record in client.get_received():
                if record["name"] == "error":
                    error = record["args"][0]
                    assert error["event"] == event and isinstance(error["error"], str)
                    assert is_coded_refusal(error, {"event"}), (event, payload, error)
            assert client.is_connected()
    finally:
        harness.close()
