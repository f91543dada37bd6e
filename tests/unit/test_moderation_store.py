"""Sanctions, the audit log, reports and ignores on every backend; kept across a restart."""

import time

import pytest

from rpschat.composition import open_storage
from rpschat.domain.ports import Sanction
from rpschat.runtime import ThreadingRuntime
from rpschat.storage.memory.moderation import MemoryModeration


@pytest.fixture
def opened(storage_url):
    made = []

    def open_store():
        if storage_url == "memory://":
            return MemoryModeration()
        storage = open_storage(storage_url, ThreadingRuntime())
        made.append(storage)
        return storage.moderation

    yield open_store
    for storage in made:
        storage.close()


def test_sanctions_run_until_their_time_and_can_be_lifted(opened):
    store = opened()
    store.add(Sanction("mute", 2_000, "spam", user_id="u1"))
    store.add(Sanction("ban", 5_000, None, user_id="u2", name_key="bea", address="10.0.0.9"))
    assert store.active("mute", 1_000, user_id="u1").reason == "spam"
    assert store.active("mute", 2_000, user_id="u1") is None  # over
    assert store.active("ban", 1_000, address="10.0.0.9").user_id == "u2"
    assert store.active("ban", 1_000, name_key="bea").until_ms == 5_000
    assert store.active("ban", 1_000, address="10.0.0.8") is None
    assert store.active("ban", 1_000) is None
    assert store.active("mute", 1_000, user_id="u2") is None
    store.add(Sanction("mute", 10**15, None, user_id="u3"))
    assert store.remove("mute", "u3") and not store.remove("mute", "u3")
    assert store.active("mute", int(time.time() * 1000) + 1, user_id="u3") is None  # from now


def test_audit_log_reports_and_ignores(opened):
    store = opened()
    store.audit("Mod", "mute", "Bea", "spam", 9_000, 1_000)
    store.audit("Mod", "kick", "Cyd", None, None, 2_000)
    assert [(a["action"], a["target"]) for a in store.log(10)] == [("kick", "Cyd"), ("mute", "Bea")]
    assert [a["action"] for a in store.log(1)] == ["kick"]
    first = store.report("u1", "Ada", 42, "insults", 3_000)
    assert first is not None and first[1] == 1
    assert store.report("u1", "Ada", 42, "again", 3_001) is None  # once per user and message
    assert store.report("u2", "Bea", 42, "insults", 3_002)[1] == 2
    assert store.report("u2", "Bea", 43, "spam", 3_003)[1] == 1
    store.ignore("u1", "u2")
    store.ignore("u1", "u2")
    assert store.ignores("u1", "u2") and not store.ignores("u2", "u1")
    store.unignore("u1", "u2")
    assert not store.ignores("u1", "u2")


def test_sanctions_survive_a_restart(sql_url):
    storage = open_storage(sql_url, ThreadingRuntime())
    storage.moderation.add(Sanction("ban", 10**15, "abuse", address="10.0.0.9"))
    storage.close()
    storage = open_storage(sql_url, ThreadingRuntime())
    assert storage.moderation.active("ban", 1, address="10.0.0.9").reason == "abuse"
    storage.close()


def test_a_version_9_database_keeps_each_users_first_report_of_a_message(sql_url):
    from sqlalchemy import create_engine, func, select

    from rpschat.storage.sql import database

    open_storage(sql_url, ThreadingRuntime()).close()
    engine = create_engine(database.sqlalchemy_url(sql_url))
    with engine.begin() as conn:
        for index in database.reports.indexes:
            index.drop(conn)
        for ts in (1, 2, 3):
            conn.execute(database.reports.insert().values(
                ts=ts, user_id="u1", name="Ada", message_id=42, reason="x"))  # fmt: skip
        conn.execute(database.schema_version.update().values(version=9))
    engine.dispose()
    storage = open_storage(sql_url, ThreadingRuntime())
    with storage.database.engine.connect() as conn:
        assert conn.scalar(select(func.min(database.reports.c.ts))) == 1
        assert conn.scalar(select(func.count()).select_from(database.reports)) == 1
    assert storage.moderation.report("u1", "Ada", 42, "x", 4) is None
    storage.close()
