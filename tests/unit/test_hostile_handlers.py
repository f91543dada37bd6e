"""Hostile inputs at the handler level (issue 11): every state change all-or-nothing."""

from __future__ import annotations

import json
import re

import pytest

from rpschat.domain.errors import Code
from rpschat.domain.ratelimit import RateSpec
from rpschat.storage.common import StorageUnavailable
from tests.support.refusals import refused
from tests.unit.conftest import events, received
from tests.unit.test_game_handlers import start_game

MAX_ID = 2**63 - 1
TOO_MANY_NAMES = re.compile(r"Too many names taken from your address: wait \d+\.\d s\.")


class FailingAfter:
    """Wraps a history so that `after` (the resume's replay) fails as a database could."""

    def __init__(self, inner):
        self._inner = inner

    def after(self, *args, **kwargs):
        raise StorageUnavailable()

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_connect_that_fails_half_way_releases_its_slot_and_the_name(harness_factory):
    harness = harness_factory(resume_grace_seconds=0.0, max_connections_per_ip=2)
    services = harness.services
    ada, ada_ack = harness.join("Ada")
    harness.drop(ada)  # no grace: the name is free again
    services.lobby.history = FailingAfter(services.lobby.history)
    for _ in range(5):
        back = harness.client(auth={"token": ada_ack["token"], "last_id": 0})
        assert not back.is_connected()
    assert services.connections.connections == {}
    assert services.connections.connections_from("127.0.0.1") == 0
    assert services.directory.names() == []  # no ghost Ada
    bea, _ = harness.join("Ada")  # the name is free, the address is not locked out
    assert bea.emit("users", {}, callback=True)["users"] == ["Ada"]


@pytest.mark.parametrize("last_id", [-(2**70), 2**63, -1, "7", 2.0, False, [1]])
def test_a_bad_last_id_is_refused_before_anything_is_taken(harness, last_id):
    _, ada_ack = harness.join("Ada")
    connections = harness.services.connections
    before = dict(connections.connections)
    client = harness.client(auth={"token": ada_ack["token"], "last_id": last_id})
    assert not client.is_connected()
    assert connections.connections == before


@pytest.mark.parametrize(
    "payload", [{"before": 2**63}, {"after": -(2**63) - 1}, {"before": -1}, {"after": 2**100}]
)
def test_history_with_a_cursor_out_of_64_bits_is_refused(harness, payload):
    ada, _ = harness.join("Ada")
    ack = ada.emit("history", payload, callback=True)
    assert ack == refused(
        f"before and after must be whole numbers from 0 to {MAX_ID}.", Code.BAD_REQUEST
    )


def test_history_with_the_largest_cursor_is_served(harness):
    ada, _ = harness.join("Ada")
    ada.emit("message", {"msg": "hi"}, callback=True)
    ack = ada.emit("history", {"before": MAX_ID}, callback=True)
    assert [m["txt"] for m in ack["messages"]] == ["hi"]
    assert events(ada, "error") == []


class FailingTokens:
    """A token store whose writes fail (a database error), reads passing through."""

    def __init__(self, inner):
        self._inner = inner

    def issue(self, user_id, name):
        raise StorageUnavailable()

    def rename(self, user_id, name):
        raise StorageUnavailable()

    def __getattr__(self, name):
        return getattr(self._inner, name)


SAVE_FAILED = refused("The server could not save that: try again in a moment.", Code.UNAVAILABLE)


def test_naming_that_fails_to_store_the_token_leaves_no_ghost(harness):
    services, identity = harness.services, harness.services.identity
    identity.tokens = FailingTokens(identity.tokens)
    watcher = harness.client()
    mallory = harness.client()
    assert mallory.emit("set_username", {"username": "Ghost"}, callback=True) == SAVE_FAILED
    assert services.directory.names() == []
    assert [c.user_id for c in services.connections.connections.values()] == [None, None]
    assert events(watcher, "presence") == []
    identity.tokens = identity.tokens._inner
    assert mallory.emit("set_username", {"username": "Ghost"}, callback=True)["ok"] is True


def test_a_rename_that_fails_to_store_keeps_the_old_name(harness):
    services, identity = harness.services, harness.services.identity
    mal, _ = harness.join("Mal")
    bea, _ = harness.join("Bea")
    bea.get_received()
    identity.tokens = FailingTokens(identity.tokens)
    assert mal.emit("set_username", {"username": "Eve"}, callback=True) == SAVE_FAILED
    assert services.directory.names() == ["Bea", "Mal"]
    other = harness.client()
    taken = other.emit("set_username", {"username": "Mal"}, callback=True)
    assert taken == refused("The name 'Mal' is taken: pick another.", Code.NAME_TAKEN)
    mal.emit("message", {"msg": "still me"}, callback=True)
    assert events(bea, "message")[-1]["name"] == "Mal"


@pytest.mark.parametrize(
    ("event", "payload", "error"),
    [
        (
            "set_username",
            {"username": "X\ud800"},
            "Your name can't contain lone surrogate characters.",
        ),
        ("set_username", {"username": "X\x00"}, "Your name can't contain control characters."),
        (
            "message",
            {"msg": "a\udfffb"},
            "A message can't contain NUL or lone surrogate characters.",
        ),
        ("message", {"msg": "a\x00b"}, "A message can't contain NUL or lone surrogate characters."),
        (
            "message",
            {"msg": "ok", "client_id": "\ud800"},
            "client_id can't contain NUL or lone surrogate characters.",
        ),
    ],
)
def test_what_storage_cannot_hold_is_refused(harness, event, payload, error):
    ada, _ = harness.join("Ada")
    assert ada.emit(event, payload, callback=True) == refused(error)


def test_paired_surrogates_are_one_character_and_accepted(harness):
    ada, _ = harness.join("Ada")
    assert ada.emit("set_username", {"username": "Ada \U0001f600"}, callback=True)["ok"]
    assert ada.emit("message", {"msg": "\U0001f600" * 2000}, callback=True)["ok"]


def test_names_taken_per_address_are_rate_limited(harness_factory):
    harness = harness_factory(join_rate=RateSpec(3, 60.0), resume_grace_seconds=0.0)
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    # a rename takes a name too
    assert bea.emit("set_username", {"username": "Bea2"}, callback=True)["ok"] is True
    assert bea.emit("set_username", {"username": "Bea2"}, callback=True)["ok"] is True  # no-op
    refused = harness.client().emit("set_username", {"username": "Cai"}, callback=True)
    assert refused["ok"] is False
    assert TOO_MANY_NAMES.fullmatch(refused["error"])
    assert refused["code"] == "too_many_names" and 0 < refused["retry_after"] <= 20.0
    renamed = bea.emit("set_username", {"username": "Bea3"}, callback=True)
    assert TOO_MANY_NAMES.fullmatch(renamed["error"]) and renamed["code"] == "too_many_names"
    # a resume that would announce an entry (the grace period is over) counts as well
    harness.drop(ada)
    back = harness.client(auth={"token": ada_ack["token"]})
    [session] = events(back, "session")
    assert session["resumed"] is False and TOO_MANY_NAMES.fullmatch(session["error"])
    assert session["code"] == "too_many_names" and session["retry_after"] > 0
    assert harness.services.directory.names() == ["Bea2"]


def test_join_buckets_of_past_addresses_are_forgotten(harness_factory, monkeypatch):
    harness = harness_factory(join_rate=RateSpec(1, 60.0))
    joins = harness.services.identity.joins
    clock = [1000.0]
    monkeypatch.setattr(harness.services.runtime, "now", lambda: clock[0])
    for n in range(5000):
        joins.take(f"10.0.{n // 256}.{n % 256}")
        clock[0] += 0.1  # 5000 joins over 500 s: only those of the last minute still count
    assert len(joins.buckets) < 2048


# ---- item 4: no answer larger than a client can receive ----------------------------------------

BIG = "\U0001f600" * 500  # 6 KB once JSON-escaped


def frame_bytes(value) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def test_join_time_history_and_history_pages_fit_in_an_answer(harness_factory):
    harness = harness_factory(max_backlog_bytes=64 * 1024, chat_rate=None, other_rate=None)
    budget = 16 * 1024
    ada, _ = harness.join("Ada")
    sent = [ada.emit("message", {"msg": f"{n} {BIG}"}, callback=True)["id"] for n in range(30)]
    bea = harness.client()
    assert bea.emit("set_username", {"username": "Bea"}, callback=True)["ok"] is True
    [history] = events(bea, "history")
    assert frame_bytes(history) <= budget and history["has_more"] is True
    seen = [m["id"] for m in history["messages"]]
    assert seen == sent[-len(seen) :]
    while True:  # paging back with `before` reaches every message, each page within budget
        page = bea.emit("history", {"before": seen[0], "limit": 200}, callback=True)
        assert page["ok"] and frame_bytes(page) <= budget
        seen = [m["id"] for m in page["messages"]] + seen
        if not page["has_more"]:
            break
    assert seen == sent
    forward, after = [], 0
    while True:  # and forwards with `after`
        page = bea.emit("history", {"after": after, "limit": 200}, callback=True)
        assert page["ok"] and frame_bytes(page) <= budget
        forward += [m["id"] for m in page["messages"]]
        if not page["has_more"]:
            break
        after = forward[-1]
    assert forward == sent


def test_one_message_larger_than_the_budget_is_still_served(harness_factory):
    harness = harness_factory(max_backlog_bytes=64 * 1024, max_message_chars=2000)
    ada, _ = harness.join("Ada")
    huge = ada.emit("message", {"msg": "\U0001f600" * 2000}, callback=True)["id"]  # 24 KB
    page = ada.emit("history", {}, callback=True)
    assert [m["id"] for m in page["messages"]] == [huge]


def test_the_users_answer_is_paged_to_fit(harness_factory):
    harness = harness_factory(
        max_backlog_bytes=64 * 1024, other_rate=None, max_connections_per_ip=0
    )
    names = [f"{n:03d}" + "\U0001f600" * 28 for n in range(120)]  # ~350 bytes each
    for name in names:
        harness.join(name)
    probe = harness.client()
    got, payload = [], {}
    while True:
        ack = probe.emit("users", payload, callback=True)
        assert ack["ok"] and ack["count"] == 120 and frame_bytes(ack) <= 16 * 1024
        got += ack["users"]
        if not ack["has_more"]:
            break
        payload = {"after": ack["users"][-1]}
    assert got == names
    assert probe.emit("users", {"after": 5}, callback=True) == refused(
        "after must be a name (a string of at most 200 characters).", Code.BAD_REQUEST
    )


def test_a_replay_larger_than_an_answer_stops_and_says_where(harness_factory):
    harness = harness_factory(
        max_backlog_bytes=64 * 1024, chat_rate=None, other_rate=None, resume_grace_seconds=5.0
    )
    ada, ada_ack = harness.join("Ada")
    bea, _ = harness.join("Bea")
    first = bea.emit("message", {"msg": "seen"}, callback=True)["id"]
    harness.drop(ada)
    sent = [bea.emit("message", {"msg": f"{n} {BIG}"}, callback=True)["id"] for n in range(10)]
    back = harness.client(auth={"token": ada_ack["token"], "last_id": first})
    got = received(back)
    replayed = [p["id"] for e, p in got if e == "message"]
    assert replayed == sent[: len(replayed)] and 0 < len(replayed) < len(sent)
    assert sum(frame_bytes(p) for e, p in got if e == "message") <= 16 * 1024
    assert ("replay_truncated", {"last_id": replayed[-1]}) in got


def test_the_game_chat_replay_is_held_to_one_answer(harness_factory):
    harness = harness_factory(
        max_backlog_bytes=64 * 1024, chat_rate=None, other_rate=None, resume_grace_seconds=5.0
    )
    ada, bea, game_id = start_game(harness)
    seen = ada.emit("game_chat", {"game_id": game_id, "msg": "seen"})["id"]
    harness.drop(ada.client)
    missed = [bea.emit("game_chat", {"game_id": game_id, "msg": f"{n} {BIG}"}) for n in range(8)]
    ada.resume(last_id=seen)
    got = received(ada.client)
    replayed = [p for e, p in got if e == "game_message"]
    assert 0 < len(replayed) < len(missed)
    assert [p["id"] for p in replayed] == [m["id"] for m in missed[: len(replayed)]]
    assert sum(frame_bytes(p) for p in replayed) <= 16 * 1024
    cut = {"game_id": game_id, "last_id": replayed[-1]["id"]}
    assert ("replay_truncated", cut) in got


def test_the_games_list_is_held_to_one_answer(harness_factory):
    harness = harness_factory(
        max_backlog_bytes=64 * 1024, other_rate=None, max_connections_per_ip=0
    )
    long_names = [
        (f"{n:02d}" + "\U0001f600" * 30, f"{n:02d}b" + "\U0001f600" * 29) for n in range(40)
    ]
    for names in long_names:
        start_game(harness, names=names)
    probe, _ = harness.join("Probe")
    ack = probe.emit("games", {}, callback=True)
    assert ack["ok"] is True and ack["has_more"] is True
    assert 0 < len(ack["games"]) < 40 and frame_bytes(ack) <= 16 * 1024
