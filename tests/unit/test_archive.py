"""Players' finished games (`GameArchive`) on every backend."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import create_engine, select, text

from rpschat.composition import open_storage
from rpschat.domain.game.ports import GameRecord
from rpschat.runtime import ThreadingRuntime
from rpschat.storage.sql import database
from rpschat.storage.sql.database import sqlalchemy_url


def record(game_id: str, user_id: str = "u1", **changes) -> GameRecord:
    base = GameRecord(
        game_id=game_id,
        user_id=user_id,
        name="Ada",
        opponent="Bea",
        computer=False,
        best_of=1,
        winner="Ada",
        score={"Ada": 1, "Bea": 0},
        rounds=[{"round": 1, "moves": {"Ada": "rock", "Bea": None}, "winner": "Ada"}],
        reason="timeout",
        ended_at=1_764_000_000_000,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def stores(storage_url):
    storage = open_storage(storage_url, ThreadingRuntime())
    yield storage, storage.archive
    storage.close()


def without_id(records: list[GameRecord]) -> list[GameRecord]:
    return [dataclasses.replace(r, id=0) for r in records]


def test_games_are_kept_per_user_newest_first_and_once(stores):
    _, archive = stores
    archive.add_many([record("g1"), record("g1", user_id="u2", name="Bea", opponent="Ada")])
    archive.add_many([record("g2", computer=True, opponent="Computer"), record("g1")])
    games, has_more = archive.page("u1")
    assert without_id(games) == [record("g2", computer=True, opponent="Computer"), record("g1")]
    assert not has_more and games[0].id > games[1].id > 0
    [bea] = archive.page("u2")[0]
    assert bea.name == "Bea" and bea.game_id == "g1"
    assert archive.page("nobody") == ([], False)


def test_pages_follow_the_id_cursor(stores):
    _, archive = stores
    archive.add_many([record(f"g{n}") for n in range(5)])
    first, more = archive.page("u1", limit=2)
    assert [r.game_id for r in first] == ["g4", "g3"] and more
    second, more = archive.page("u1", before=first[-1].id, limit=2)
    assert [r.game_id for r in second] == ["g2", "g1"] and more
    third, more = archive.page("u1", before=second[-1].id, limit=2)
    assert [r.game_id for r in third] == ["g0"] and not more


def test_forgetting_a_user_leaves_the_others(stores):
    _, archive = stores
    archive.add_many([record("g1"), record("g1", user_id="u2")])
    archive.forget_user("u1")
    assert archive.page("u1") == ([], False)
    assert len(archive.page("u2")[0]) == 1


def test_games_survive_a_restart(sql_url):
    storage = open_storage(sql_url, ThreadingRuntime())
    storage.archive.add_many([record("g1")])
    storage.close()
    storage = open_storage(sql_url, ThreadingRuntime())
    assert without_id(storage.archive.page("u1")[0]) == [record("g1")]
    storage.close()


def test_a_version_5_database_gets_the_game_records_table(sql_url):
    open_storage(sql_url, ThreadingRuntime()).close()
    engine = create_engine(sqlalchemy_url(sql_url))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE game_records"))
        conn.execute(database.schema_version.update().values(version=5))
    engine.dispose()
    storage = open_storage(sql_url, ThreadingRuntime())
    storage.archive.add_many([record("g1")])
    assert len(storage.archive.page("u1")[0]) == 1
    with storage.database.engine.connect() as conn:
        assert conn.scalar(select(database.schema_version.c.version)) == database.SCHEMA_VERSION
    storage.close()
