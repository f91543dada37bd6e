"""Arenas (issue 26, point 6) on a held clock, with the shared state in memory and in Redis:
a moderator schedules, claimed players join, waiting players are paired at once and never
twice in a row with the same opponent if another waits, streak scoring, standings pushed,
a podium at the end."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, update

from rpschat.composition import open_storage
from rpschat.domain.errors import Code
from rpschat.domain.game.arenas import Player, count_game, pairs_for, points_for
from rpschat.runtime import ThreadingRuntime
from rpschat.storage.memory.arenas import MemoryArenas
from rpschat.storage.sql.database import arena_records, schema_version, sqlalchemy_url
from tests.support.refusals import refused
from tests.unit.conftest import HeldClock
from tests.unit.test_game_handlers import OK, Seat
from tests.unit.test_names import CHEAP, PASSWORD

SHARED_STATES = ("memory", "redis")


def test_a_win_scores_2_and_double_after_two_in_a_row_until_a_loss():
    ada = Player("u1", "Ada")
    scores = []
    for outcome in ("won", "won", "won", "won", "drawn", "won", "lost", "drawn"):
        before = ada.score
        count_game(ada, outcome)
        scores.append(ada.score - before)
    assert scores == [2, 2, 4, 4, 2, 2, 0, 1]
    assert (ada.played, ada.wins, ada.streak) == (8, 5, 0)
    assert points_for(Player("u2", "Bea", streak=2), "drawn") == 2


def test_never_the_same_opponent_twice_in_a_row_if_another_waits():
    a, b, c = (
        Player("a", "A", last_opponent="b"),
        Player("b", "B", last_opponent="a"),
        Player("c", "C"),
    )
    assert [(x.name, y.name) for x, y in pairs_for([a, b, c])] == [("A", "C")]
    c = Player("c", "C", last_opponent="a")  # A's last was B, C's last was A: A takes C
    assert [(x.name, y.name) for x, y in pairs_for([a, b, c])] == [("A", "C")]
    assert [(x.name, y.name) for x, y in pairs_for([a, b])] == [("A", "B")]  # nobody else


@pytest.fixture
def harness(harness_factory):
    return harness_factory(**CHEAP)


def claimed(harness, name):
    seat = Seat(harness, name)
    assert seat.emit("claim_name", {"password": PASSWORD})["ok"]
    return seat


def test_an_arena_from_schedule_to_podium(harness):
    clock = HeldClock(harness.services.runtime)
    mod = harness.moderator("Mod")
    now_ms = int(harness.services.runtime.now() * 1000)
    lobby = Seat(harness, "Lou")
    made = mod.emit("arena_create", {"starts_at": now_ms + 60_000, "minutes": 5, "best_of": 1},
                    callback=True)  # fmt: skip
    assert made["ok"] is True
    arena = made["arena"]
    arena_id = arena["arena_id"]
    assert (arena["status"], arena["best_of"], arena["created_by"]) == ("upcoming", 1, "Mod")
    assert [a["arena_id"] for a in lobby.take("arena_scheduled")] == [arena_id]
    assert lobby.emit("arena_join", {"arena_id": arena_id}) == refused(
        "Claim your name to play in an arena.", Code.NOT_CLAIMED
    )
    ada, bea, cyd = (claimed(harness, n) for n in ("Ada", "Bea", "Cyd"))
    for seat in (ada, bea, cyd):
        assert seat.emit("arena_join", {"arena_id": arena_id})["ok"]
    assert lobby.emit("arena_watch", {"arena_id": arena_id})["ok"]
    clock.advance(59)
    assert ada.take("match_found") == []  # not started
    clock.advance(2)  # running: two of the three are paired at once
    found = {s.name: s.take("match_found") for s in (ada, bea, cyd)}
    playing = sorted(name for name, f in found.items() if f)
    assert playing == ["Ada", "Bea"]
    game_id = found["Ada"][0]["game_id"]
    for _ in range(3):  # Ada wins three in a row against whoever she meets
        opponent = bea if found["Bea"] else cyd
        assert ada.emit("throw", {"game_id": game_id, "move": "paper"}) == OK
        assert opponent.emit("throw", {"game_id": game_id, "move": "rock"}) == OK
        found = {}
        for _ in range(5):  # scored once recorded (a task of its own), then paired again
            clock.advance(1)
            found = {s.name: s.take("match_found") for s in (ada, bea, cyd)}
            if found["Ada"]:
                break
        assert found["Ada"], "Ada is paired again"
        new_opponent = found["Ada"][0]["opponent"]
        assert new_opponent != opponent.name  # never the same twice in a row: another waits
        game_id = found["Ada"][0]["game_id"]
    standings = lobby.take("arena_standings")[-1]
    top = standings["standings"][0]
    assert (top["name"], top["score"], top["wins"], top["on_fire"]) == ("Ada", 2 + 2 + 4, 3, True)
    assert standings["status"] == "running"
    assert ada.emit("arena_leave", {"arena_id": arena_id}) == OK
    assert ada.emit("arena_leave", {"arena_id": arena_id})["code"] == "not_in_arena"
    clock.advance(300)  # the end
    final = lobby.take("arena_standings")[-1]
    assert final["status"] == "finished"
    assert [p["name"] for p in final["podium"]][0] == "Ada" and len(final["podium"]) == 3
    assert ada.emit("arena_join", {"arena_id": arena_id}) == refused(
        "This arena is over.", Code.ARENA_OVER
    )
    page = harness.flask_app.test_client().get(f"/arena/{arena_id}")
    assert page.status_code == 200 and "Ada" in page.get_data(as_text=True)
    # the finished arena is in the results store (the database) too: once the live store has
    # lost it (a restart without Redis), its page and arena_watch read it from there
    kept = harness.services.arenas._results.arena(arena_id)
    assert kept is not None and kept["podium"] == final["podium"]
    harness.services.arenas._store = MemoryArenas()  # the live store, empty after a restart
    page = harness.flask_app.test_client().get(f"/arena/{arena_id}")
    shown = page.get_data(as_text=True)
    assert page.status_code == 200 and "Ada" in shown and "Bea" in shown
    watched = lobby.emit("arena_watch", {"arena_id": arena_id})["arena"]
    assert (watched["status"], watched["podium"]) == ("finished", final["podium"])
    assert watched["standings"] == final["standings"]


def test_only_moderators_schedule_and_bad_arenas_are_refused(harness):
    ada = claimed(harness, "Ada")
    assert ada.emit("arena_create", {"starts_at": 0, "minutes": 5}) == refused(
        "Only moderators can schedule an arena.", Code.NOT_MODERATOR
    )
    mod = harness.moderator("Mod")
    bad = mod.emit("arena_create", {"starts_at": 0, "minutes": 0}, callback=True)
    assert bad["code"] == "bad_request" and bad["field"] == "minutes"
    assert ada.emit("arena_join", {"arena_id": "nope"}) == refused(
        "No such arena.", Code.NO_SUCH_ARENA
    )


def test_a_finished_arena_is_kept_in_the_results_store(storage_url):
    record = {
        "arena_id": "aX",
        "starts_at": 1.0,
        "ends_at": 61.0,
        "best_of": 3,
        "created_by": "Mod",
        "games": ["g1"],
        "podium": [{"rank": 1, "name": "Ada", "score": 2}],
        "players": {"u1": {"user_id": "u1", "name": "Ada", "score": 2}},
    }
    storage = open_storage(storage_url, ThreadingRuntime())
    try:
        assert storage.results.arena("aX") is None
        storage.results.record_arena("aX", 61_000, record)
        storage.results.record_arena("aX", 61_000, {**record, "podium": []})  # no change
        assert storage.results.arena("aX") == record
    finally:
        storage.close()
    if storage_url == "memory://":
        return
    reopened = open_storage(storage_url, ThreadingRuntime())  # a restart on the same database
    try:
        assert reopened.results.arena("aX") == record and reopened.results.arena("aY") is None
    finally:
        reopened.close()
    # a schema 20 database (before arenas were kept) gets the table when opened
    engine = create_engine(sqlalchemy_url(storage_url))
    with engine.begin() as conn:
        arena_records.drop(conn)
        conn.execute(update(schema_version).values(version=20))
    engine.dispose()
    migrated = open_storage(storage_url, ThreadingRuntime())
    try:
        assert migrated.results.arena("aX") is None
        migrated.results.record_arena("aX", 61_000, record)
        assert migrated.results.arena("aX") == record
    finally:
        migrated.close()
