"""Chat history on every backend: commit before ack, id order, dedup, paging, group commit,
draining on close, crashes, and eventlet's OS thread pool."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.exc import OperationalError

from rpschat.composition import open_storage
from rpschat.domain.ports import StoredMessage
from rpschat.runtime import ThreadingRuntime
from rpschat.storage.common import StorageClosed, StorageUnavailable
from rpschat.storage.memory.history import MemoryHistory
from rpschat.storage.sql import database
from rpschat.storage.sql.database import SchemaError, schema_version, sqlalchemy_url
from rpschat.storage.sql.history import SqlHistory
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stores():
    """open(url) -> a history store, closed (and its database) after the test."""
    opened = []

    def open_store(url, runtime=None):
        storage = open_storage(url, runtime or ThreadingRuntime())
        opened.append(storage)
        return storage.history

    yield open_store
    for storage in opened:
        storage.close()


def wait_until(condition, timeout=10.0, what="the condition"):
    eventually(condition, timeout, what, pause=0.005)


def start_threads(target, count):
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    return threads


def join_all(threads):
    for thread in threads:
        thread.join(timeout=20)


def run_threads(target, count):
    join_all(start_threads(target, count))


def fill(store, room, count, user="u1"):
    return [store.append(room, user, "Ada", f"{room} {i}")[0] for i in range(count)]


class GatedRuntime(ThreadingRuntime):
    """A database that stalls while the gate is closed: appends pile up behind the writer."""

    def __init__(self):
        self.gate = threading.Event()
        self.gate.set()
        self.blocked = 0

    def run_blocking(self, fn, *args):
        if not self.gate.is_set():
            self.blocked += 1
            self.gate.wait()
        return fn(*args)


class FailingRuntime(ThreadingRuntime):
    """Fails the next `failures` database calls the way an unreachable database does."""

    failures = 0

    def run_blocking(self, fn, *args):
        if self.failures:
            self.failures -= 1
            raise OperationalError("INSERT ...", {}, ConnectionError("connection refused"))
        return fn(*args)


def stall_writer(store, runtime):
    """Close the gate and send one message: the writer is then stuck committing it."""
    runtime.gate.clear()
    first = threading.Thread(target=store.append, args=("lobby", "u0", "Zed", "first"))
    first.start()
    wait_until(lambda: runtime.blocked == 1)
    return first


# ---- every backend ---------------------------------------------------------------------------


def test_append_returns_once_committed(storage_url, stores):
    store = stores(storage_url)
    message, duplicate = store.append("lobby", "u1", "Ada", "hello", client_id="c1")
    assert not duplicate
    assert (message.room, message.user_id, message.name, message.text) == (
        "lobby",
        "u1",
        "Ada",
        "hello",
    )
    assert message.client_id == "c1" and abs(message.ts - time.time() * 1000) < 5000
    assert message.to_wire() == {"id": message.id, "name": "Ada", "txt": "hello", "ts": message.ts}
    # another engine (another server process) sees it as soon as append returned
    reader = store if storage_url == "memory://" else stores(storage_url)
    assert reader.page("lobby") == ([message], False)


def test_ids_increase_across_rooms(storage_url, stores):
    store = stores(storage_url)
    sent = [store.append(room, "u1", "Ada", "hi")[0] for room in ["lobby", "g1", "lobby"] * 5]
    ids = [message.id for message in sent]
    assert ids == sorted(set(ids))
    assert [m.ts for m in sent] == sorted(m.ts for m in sent)


def test_on_commit_runs_in_id_order_before_the_append_returns(storage_url, stores):
    store = stores(storage_url)
    delivered = []

    def send(n):
        for i in range(25):
            message, _ = store.append("lobby", f"u{n}", "Ada", f"{n}.{i}", on_commit=deliver)
            assert message.id in delivered  # broadcast first, then ack

    def deliver(message):
        delivered.append(message.id)

    run_threads(send, 16)
    assert len(delivered) == 400
    assert delivered == sorted(delivered)
    assert [m.id for m in store.after("lobby", 0)] == delivered


def test_a_failing_on_commit_is_logged_and_changes_nothing(storage_url, stores, caplog):
    store = stores(storage_url)

    def explode(message):
        raise RuntimeError("listener bug")

    first, _ = store.append("lobby", "u1", "Ada", "one", on_commit=explode)
    second, _ = store.append("lobby", "u1", "Ada", "two", on_commit=explode)
    assert store.after("lobby", 0) == [first, second]
    assert "listener bug" in caplog.text


def test_a_known_client_id_is_stored_once(storage_url, stores):
    store = stores(storage_url)
    calls = []
    first, duplicate = store.append("lobby", "u1", "Ada", "hi", "c1", on_commit=calls.append)
    again, duplicate_again = store.append("lobby", "u1", "Ada", "hi", "c1", on_commit=calls.append)
    assert (duplicate, duplicate_again) == (False, True)
    assert again == first and calls == [first]
    other_user, dup = store.append("lobby", "u2", "Bea", "hi", "c1")
    assert not dup and other_user.id > first.id
    no_ids = [store.append("lobby", "u1", "Ada", "hi")[1] for _ in range(2)]
    assert no_ids == [False, False]
    assert len(store.after("lobby", 0)) == 4


def test_concurrent_resends_store_one_message(storage_url, stores):
    store = stores(storage_url)
    results, calls = [], []

    def send(n):
        results.append(store.append("lobby", "u1", "Ada", "hi", "c1", on_commit=calls.append))

    run_threads(send, 12)
    assert sorted(duplicate for _, duplicate in results) == [False] + [True] * 11
    assert len({message for message, _ in results}) == 1 and len(calls) == 1
    assert len(store.after("lobby", 0)) == 1


def test_page_before_after_and_limit(storage_url, stores):
    store = stores(storage_url)
    lobby = []
    for _ in range(10):
        lobby.append(store.append("lobby", "u1", "Ada", "hi")[0])
        store.append("other", "u1", "Ada", "elsewhere")
    assert store.page("lobby", limit=3) == (lobby[7:], True)
    assert store.page("lobby", limit=10) == (lobby, False)
    assert store.page("lobby", before=lobby[7].id, limit=3) == (lobby[4:7], True)
    assert store.page("lobby", before=lobby[3].id, limit=3) == (lobby[:3], False)
    assert store.page("lobby", before=lobby[3].id, limit=5) == (lobby[:3], False)
    assert store.page("lobby", before=lobby[0].id) == ([], False)
    assert store.page("lobby", after=0, limit=4) == (lobby[:4], True)
    assert store.page("lobby", after=lobby[5].id, limit=4) == (lobby[6:], False)
    assert store.page("lobby", after=lobby[5].id, limit=3) == (lobby[6:9], True)
    assert store.page("lobby", after=lobby[9].id) == ([], False)
    assert store.page("empty") == ([], False)
    with pytest.raises(ValueError):
        store.page("lobby", before=5, after=1)


def test_after_replays_a_room_oldest_first(storage_url, stores):
    store = stores(storage_url)
    lobby = fill(store, "lobby", 6)
    fill(store, "g1", 3)
    assert store.after("lobby", lobby[1].id) == lobby[2:]
    assert store.after("lobby", lobby[1].id, limit=2) == lobby[2:4]
    assert store.after("lobby", lobby[-1].id) == []


def test_a_closed_store_refuses_everything(storage_url, stores):
    store = stores(storage_url)
    store.append("lobby", "u1", "Ada", "hi")
    assert store.close() is True
    with pytest.raises(StorageClosed) as refused:
        store.append("lobby", "u1", "Ada", "too late")
    assert "restarting" in refused.value.reason
    with pytest.raises(StorageClosed):
        store.page("lobby")
    assert store.close() is True  # closing twice is harmless


def test_open_storage_picks_the_backend(tmp_path, monkeypatch):
    assert isinstance(open_storage("memory://", ThreadingRuntime()).history, MemoryHistory)
    monkeypatch.chdir(tmp_path)
    storage = open_storage("sqlite:///data/chat.sqlite3", ThreadingRuntime())
    assert isinstance(storage.history, SqlHistory)
    assert (tmp_path / "data" / "chat.sqlite3").exists()
    storage.close()
    storage = open_storage(None, ThreadingRuntime())  # the default: a file under instance/
    assert (tmp_path / "instance" / "chat.db").exists()
    storage.close()


def test_postgres_urls_get_psycopg():
    for url in ("postgres://u:p@db:5432/chat", "postgresql://u:p@db:5432/chat"):
        assert sqlalchemy_url(url).drivername == "postgresql+psycopg"
    assert sqlalchemy_url("postgresql+psycopg://db/chat").database == "chat"
    with pytest.raises(ValueError):
        sqlalchemy_url("mysql://db/chat")


# ---- SQL backends ----------------------------------------------------------------------------


def test_messages_and_client_ids_survive_a_reopen(sql_url, stores):
    store = stores(sql_url)
    first, _ = store.append("lobby", "u1", "Ada", "before the restart", "c1")
    store.close()
    reopened = stores(sql_url)
    assert reopened.page("lobby") == ([first], False)
    assert reopened.append("lobby", "u1", "Ada", "before the restart", "c1") == (first, True)
    assert reopened.append("lobby", "u1", "Ada", "after", "c2")[0].id > first.id


def test_concurrent_appends_share_transactions(sql_url, stores):
    runtime = GatedRuntime()
    store = stores(sql_url, runtime)
    first = stall_writer(store, runtime)
    results = []

    def send(n):
        results.append(store.append("lobby", f"u{n % 5}", "Ada", f"m{n}", client_id=f"c{n % 25}"))

    threads = start_threads(send, 50)
    wait_until(lambda: store._queue.qsize() == 50)
    runtime.gate.set()
    join_all(threads + [first])
    assert store.batches_committed == 2  # 51 appends: the stalled one, then all the others
    new = [message for message, duplicate in results if not duplicate]
    assert len(new) == 25  # each (user, client_id) repeats once within the second batch
    assert {message.id for message, _ in results} == {message.id for message in new}


def test_close_commits_everything_queued(sql_url, stores):
    runtime = GatedRuntime()
    store = stores(sql_url, runtime)
    first = stall_writer(store, runtime)
    acked = []
    threads = start_threads(lambda n: acked.append(store.append("lobby", "u1", "Ada", str(n))), 20)
    wait_until(lambda: store._queue.qsize() == 20)
    assert store.close(timeout=0.1) is False  # still stalled: nothing is lost, it just waits
    with pytest.raises(StorageClosed):
        store.append("lobby", "u1", "Ada", "after close")
    runtime.gate.set()
    assert store.close() is True
    join_all(threads + [first])
    assert len(acked) == 20
    assert len(stores(sql_url).after("lobby", 0)) == 21


def test_a_failed_batch_fails_its_appends_only(sql_url, stores, caplog):
    runtime = FailingRuntime()
    store = stores(sql_url, runtime)
    runtime.failures = 1
    with pytest.raises(StorageUnavailable) as refused:
        store.append("lobby", "u1", "Ada", "lost", "c1")
    assert "try again" in refused.value.reason
    assert "storing 1 messages failed" in caplog.text
    message, duplicate = store.append("lobby", "u1", "Ada", "resent", "c1")
    assert not duplicate and store.after("lobby", 0) == [message]


def test_readers_see_ids_in_commit_order_across_processes(sql_url, stores):
    """Two engines (two server processes) write at once; a reader polling after(last_id) never
    sees an id before a smaller one is visible, so it misses nothing."""
    writers = [stores(sql_url), stores(sql_url)]
    reader = stores(sql_url)
    seen, done = [], threading.Event()

    def poll():
        while True:
            finished = done.is_set()
            seen.extend(reader.after("lobby", seen[-1].id if seen else 0))
            if finished:
                return

    polling = threading.Thread(target=poll)
    polling.start()
    run_threads(lambda n: fill(writers[n % 2], "lobby", 10, user=f"u{n}"), 8)
    done.set()
    polling.join(timeout=10)
    stored = reader.after("lobby", 0)
    assert len(stored) == 80 and seen == stored


def test_schema_version_is_recorded(sql_url, stores):
    store = stores(sql_url)
    with store.database.engine.connect() as conn:
        versions = conn.execute(select(schema_version.c.version)).scalars().all()
        assert versions == [database.SCHEMA_VERSION]


def test_a_newer_schema_is_refused(sql_url, stores):
    store = stores(sql_url)
    store.append("lobby", "u1", "Ada", "hi")
    store.close()
    set_schema_version(sql_url, 99)
    current = database.SCHEMA_VERSION
    with pytest.raises(SchemaError, match=f"version 99, newer than this server's {current}"):
        open_storage(sql_url, ThreadingRuntime())


def test_an_older_schema_is_migrated(sql_url, stores, monkeypatch):
    stores(sql_url).close()
    steps = []
    current = database.SCHEMA_VERSION
    monkeypatch.setattr(database, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(database.MIGRATIONS, current, lambda conn: steps.append(conn))
    store = stores(sql_url)
    assert len(steps) == 1
    with store.database.engine.connect() as conn:
        assert conn.scalar(select(schema_version.c.version)) == current + 1
    stores(sql_url)  # up to date now: no step runs again
    assert len(steps) == 1


def set_schema_version(url, version):
    engine = create_engine(sqlalchemy_url(url))
    with engine.begin() as conn:
        conn.execute(update(schema_version).values(version=version))
    engine.dispose()


def test_a_dropped_postgres_connection_is_replaced(postgres_url, stores):
    store = stores(postgres_url)
    first, _ = store.append("lobby", "u1", "Ada", "before")
    assert store.page("lobby") == ([first], False)
    kill_other_backends(postgres_url)  # as a database restart or a proxy's idle timeout would
    second, _ = store.append("lobby", "u1", "Ada", "after")
    assert store.page("lobby") == ([first, second], False)


def kill_other_backends(url):
    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    engine.dispose()


# ---- in other processes ----------------------------------------------------------------------

CRASHING_WRITER = """
import sys, threading
from rpschat.runtime import ThreadingRuntime
from rpschat.storage.sql.database import Database
from rpschat.storage.sql.history import SqlHistory

runtime = ThreadingRuntime()
store = SqlHistory(Database(sys.argv[1], runtime), runtime)
printing = threading.Lock()

def send(n):
    for i in range(1_000_000):
        message, _ = store.append("lobby", f"u{n}", "Ada", f"{n}.{i}", client_id=f"{n}.{i}")
        with printing:
            print(message.id, message.text, flush=True)

for n in range(4):
    threading.Thread(target=send, args=(n,)).start()
"""


def run_child(script, *args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-c", script, *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, text=True, **kwargs)


def test_acked_messages_survive_kill_9(sql_url, stores):
    child = run_child(CRASHING_WRITER, sql_url, stdout=subprocess.PIPE)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout))
    reader.start()
    try:
        wait_until(lambda: len(lines) >= 300, timeout=20)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    reader.join(timeout=5)
    acked = dict(line.split() for line in lines if line.endswith("\n"))
    stored = {str(m.id): m.text for m in stores(sql_url).after("lobby", 0, limit=1_000_000)}
    assert len(acked) >= 300
    assert {id_: stored.get(id_) for id_ in acked} == acked


GREEN_WRITER = """
import eventlet
eventlet.monkey_patch()
import json, sys
from rpschat.runtime import EventletRuntime
from rpschat.storage.sql.database import Database
from rpschat.storage.sql.history import SqlHistory

runtime = EventletRuntime()
store = SqlHistory(Database(sys.argv[1], runtime), runtime)
delivered = []

def send(i):
    message, _ = store.append("lobby", f"u{i % 7}", "Ada", f"m{i}", client_id=str(i),
                              on_commit=lambda m: delivered.append(m.id))
    return message.id

pool = eventlet.GreenPool(250)
readers = [pool.spawn(store.page, "lobby") for _ in range(25)]
ids = list(pool.imap(send, range(200)))
for reader in readers:
    reader.wait()
stored = [m.id for m in store.after("lobby", 0)]
print(json.dumps({"ids": ids, "delivered": delivered, "stored": stored,
                  "batches": store.batches_committed, "drained": store.close()}))
"""


def test_green_appends_under_eventlet_monkey_patch(sql_url):
    child = run_child(GREEN_WRITER, sql_url, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    report = json.loads(out)
    assert len(set(report["ids"])) == 200
    assert report["delivered"] == sorted(report["ids"]) == report["stored"]
    assert report["batches"] < 200 and report["drained"]


def test_stored_message_is_a_value():
    message = StoredMessage(1, "lobby", "u1", "Ada", "hi", 5, None)
    assert message == StoredMessage(1, "lobby", "u1", "Ada", "hi", 5, None)
    with pytest.raises(AttributeError):
        message.text = "edited"
