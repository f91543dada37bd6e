"""The database behind chat history and game results: engine from a URL, schema, connections.

Every database call runs through `Runtime.run_blocking` (eventlet's OS thread pool in
production). After `eventlet.monkey_patch()` the `threading` locks inside SQLAlchemy's
connection pool are green, and a contended green lock taken from an OS thread breaks. So the
engine uses `NullPool`, and `Database` keeps its own few long-lived connections in a
`runtime.queue()`: they are handed out in the calling (green) thread, and each is used by one
OS thread at a time, so nothing in SQLAlchemy or the driver is ever shared across OS threads.
"""

from __future__ import annotations

import logging
import os
import queue
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from rpschat.domain.errors import RETRY_SOON_SECONDS, Code, Refused
from rpschat.domain.ports import Runtime

logger = logging.getLogger(__name__)

T = TypeVar("T")

MEMORY_URL = "memory://"
DEFAULT_DATABASE_URL = "sqlite:///instance/chat.db"  # as in rpschat.config
SCHEMA_VERSION = 7
# pg_advisory_xact_lock key serializing message batches (and schema setup) across processes
WRITE_LOCK_KEY = 0x525053_43484154  # "RPSCHAT"
SQLITE_BUSY_TIMEOUT_MS = 10_000

metadata = MetaData()

# SQLite only makes INTEGER PRIMARY KEY the autoincrementing rowid, not BIGINT
_id_type = BigInteger().with_variant(Integer, "sqlite")

messages = Table(
    "messages",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("room", String, nullable=False),
    Column("user_id", String, nullable=False),
    Column("name", String, nullable=False),
    Column("text", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("client_id", String, nullable=True),
    Index("ix_messages_room_id", "room", "id"),
    # NULL client_ids never collide, so only messages sent with a client_id are deduplicated
    Index("ux_messages_user_client", "user_id", "client_id", unique=True),
    sqlite_autoincrement=True,  # never reuse an id, even if the newest rows get pruned
)

games = Table(
    "games",
    metadata,
    Column("game_id", String, primary_key=True),
    Column("player_a", String, nullable=False),
    Column("player_b", String, nullable=False),
    Column("winner", String, nullable=True),
    Column("loser", String, nullable=True),
    Column("reason", String, nullable=False),
    Column("best_of", Integer, nullable=False),
    Column("score", JSON, nullable=False),
    Column("ts", BigInteger, nullable=False),
)

standings = Table(
    "standings",
    metadata,
    Column("key", String, primary_key=True),  # the casefolded name: names are case-insensitive
    Column("name", String, nullable=False),  # the latest spelling
    Column("wins", Integer, nullable=False),
    Column("losses", Integer, nullable=False),
    Column("draws", Integer, nullable=False),
    # the user who played under the name: a claimed user's row is theirs for good; a guest's is
    # started afresh when another user plays under the name, and removed when the guest leaves
    Column("user_id", String, nullable=True),
    Column("rating", Float, nullable=False, server_default=text("1500")),  # Elo
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
)

# Resume tokens, so that a restarted server still knows its users (storage/sessions.py). Only a
# hash of each token's secret is kept: a copy of the database lets nobody take over a name.
sessions = Table(
    "sessions",
    metadata,
    Column("user_id", String, primary_key=True),
    Column("secret_hash", String, nullable=False),
    Column("name", String, nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # ms since the epoch
)

# Claimed names (storage/accounts.py): the key is the name's look-alike key (domain/names.py),
# so one claim covers every spelling that looks like it; only an Argon2id hash of the password.
accounts = Table(
    "accounts",
    metadata,
    Column("key", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("user_id", String, nullable=False, unique=True),
    Column("password_hash", String, nullable=False),
    Column("created_at", BigInteger, nullable=False),  # ms since the epoch
)

# Moderation (storage/moderation.py): sanctions running until a time, the moderators' audit
# log, reports, and who ignores whom.
sanctions = Table(
    "sanctions",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("kind", String, nullable=False),  # mute, kick, ban
    Column("user_id", String, nullable=True),
    Column("name_key", String, nullable=True),
    Column("address", String, nullable=True),
    Column("until_ms", BigInteger, nullable=False),
    Column("reason", Text, nullable=True),
    Index("ix_sanctions_user", "kind", "user_id"),
    Index("ix_sanctions_name", "kind", "name_key"),
    Index("ix_sanctions_address", "kind", "address"),
)

mod_actions = Table(
    "mod_actions",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("ts", BigInteger, nullable=False),
    Column("moderator", String, nullable=False),
    Column("action", String, nullable=False),
    Column("target", String, nullable=False),
    Column("reason", Text, nullable=True),
    Column("until_ms", BigInteger, nullable=True),
)

reports = Table(
    "reports",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("ts", BigInteger, nullable=False),
    Column("user_id", String, nullable=False),
    Column("name", String, nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
)

ignores = Table(
    "ignores",
    metadata,
    Column("user_id", String, primary_key=True),
    Column("ignored_user_id", String, primary_key=True),
)

# Each player's finished games (storage/archive.py, `my_games`): one row per player and game,
# so a user's page is an index range; `id` orders them and is the page cursor.
game_records = Table(
    "game_records",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("user_id", String, nullable=False),
    Column("game_id", String, nullable=False),
    Column("name", String, nullable=False),
    Column("opponent", String, nullable=False),
    Column("computer", Boolean, nullable=False),
    Column("best_of", Integer, nullable=False),
    Column("winner", String, nullable=True),
    Column("score", JSON, nullable=False),
    Column("rounds", JSON, nullable=False),
    Column("reason", String, nullable=False),
    Column("ended_at", BigInteger, nullable=False),  # ms since the epoch
    Index("ux_game_records_user_game", "user_id", "game_id", unique=True),
    Index("ix_game_records_user_id", "user_id", "id"),
    sqlite_autoincrement=True,
)

# Direct messages (storage/dms.py): `pair` is the two user ids sorted and joined, so a
# conversation is one index range; `unread` marks those sent to a claimed name offline.
direct_messages = Table(
    "direct_messages",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("pair", String, nullable=False),
    Column("sender_id", String, nullable=False),
    Column("sender", String, nullable=False),
    Column("recipient_id", String, nullable=False),
    Column("recipient", String, nullable=False),
    Column("text", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("client_id", String, nullable=True),
    Column("unread", Boolean, nullable=False),
    Index("ix_direct_messages_pair", "pair", "id"),
    Index("ix_direct_messages_sender", "sender_id", "id"),
    Index("ix_direct_messages_recipient", "recipient_id", "unread", "id"),
    Index("ux_direct_messages_client", "sender_id", "client_id", unique=True),
    sqlite_autoincrement=True,
)

# MIGRATIONS[v] upgrades a version-v database to v + 1; bump SCHEMA_VERSION along with it
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: lambda conn: sessions.create(conn, checkfirst=True),
    2: lambda conn: accounts.create(conn, checkfirst=True),
    3: lambda conn: _add_columns(conn, standings, "user_id", "rating"),
    4: lambda conn: [
        t.create(conn, checkfirst=True) for t in (sanctions, mod_actions, reports, ignores)
    ],
    5: lambda conn: game_records.create(conn, checkfirst=True),
    6: lambda conn: direct_messages.create(conn, checkfirst=True),
}


def _add_columns(conn: Connection, table: Table, *names: str) -> None:
    """ALTER TABLE ... ADD COLUMN for columns the table's definition has and the database lacks."""
    present = {column["name"] for column in inspect(conn).get_columns(table.name)}
    for name in names:
        if name in present:
            continue
        column = table.c[name]
        kind = column.type.compile(dialect=conn.dialect)
        default = f" DEFAULT {column.server_default.arg.text}" if column.server_default else ""
        null = "" if column.nullable else " NOT NULL"
        conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}{default}{null}")


class StorageUnavailable(Refused):
    """The database could not carry out a request (it is down, or refused the write)."""

    def __init__(
        self,
        code: Code = Code.UNAVAILABLE,
        reason: str = "The server could not save that: try again in a moment.",
    ):
        super().__init__(code, reason, retry_after=RETRY_SOON_SECONDS)


class StorageClosed(StorageUnavailable):
    """The store is closed: the server is shutting down."""

    def __init__(self):
        super().__init__(
            Code.RESTARTING, "The server is restarting: send it again once you are reconnected."
        )


class SchemaError(RuntimeError):
    """The database holds a schema this server cannot use."""


def is_memory_url(database_url: str | None) -> bool:
    return database_url == MEMORY_URL


def sqlalchemy_url(database_url: str | None) -> URL:
    """The SQLAlchemy URL for a DATABASE_URL; PostgreSQL URLs (Heroku's too) get psycopg 3."""
    url = make_url(database_url or DEFAULT_DATABASE_URL)
    if url.drivername in ("postgres", "postgresql"):
        return url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"DATABASE_URL must be memory://, sqlite:/// or postgresql://, not {url}")
    return url


def migrate(conn: Connection, from_version: int) -> None:
    for version in range(from_version, SCHEMA_VERSION):
        MIGRATIONS[version](conn)
    conn.execute(update(schema_version).values(version=SCHEMA_VERSION))


class _Slot:
    """One long-lived connection, opened on first use and dropped after an error."""

    conn: Connection | None = None

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a dead connection may fail to close: it is gone either way
                logger.debug("closing a database connection failed", exc_info=True)


class Database:
    """An engine, its schema (created or checked on open), and `connections` connections."""

    def __init__(self, database_url: str | None, runtime: Runtime, connections: int = 4):
        self.url = sqlalchemy_url(database_url)
        self.runtime = runtime
        self.dialect = self.url.get_backend_name()
        self.engine = _create_engine(self.url)
        self.closed = False
        self._slots = runtime.queue()
        for _ in range(connections):
            self._slots.put(_Slot())
        try:
            runtime.run_blocking(self._prepare_schema)
        except BaseException:
            self.engine.dispose()
            raise

    def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(conn, *args)` in a transaction, on an OS thread."""
        return self._run(self._read_tx, fn, args)

    def write(self, fn: Callable[..., T], *args: Any, serialize: bool = False) -> T:
        """Like `read`, holding the write lock. `serialize` also takes PostgreSQL's advisory lock,
        so that ids are assigned in commit order across processes (SQLite's lock does that)."""
        return self._run(self._write_tx, fn, args, serialize)

    def insert(self, table: Table) -> Any:
        """This dialect's INSERT, which has `on_conflict_do_*` (SQLite and PostgreSQL alike)."""
        return (postgresql if self.dialect == "postgresql" else sqlite).insert(table)

    def close(self) -> None:
        """Closes the idle connections now, and the busy ones when their call returns."""
        self.closed = True
        idle = []
        while True:
            try:
                idle.append(self._slots.get_nowait())
            except queue.Empty:
                break
        for slot in idle:
            self.runtime.run_blocking(slot.close)
            self._slots.put(slot)  # wakes callers waiting for a connection: they see `closed`
        self.engine.dispose()

    def _run(self, tx: Callable[..., T], *args: Any) -> T:
        if self.closed:
            raise StorageClosed()
        slot = self._slots.get()
        try:
            if self.closed:  # while this call waited for a connection
                raise StorageClosed()
            return self.runtime.run_blocking(self._call, slot, tx, *args)
        except DBAPIError as exc:
            raise StorageUnavailable() from exc
        finally:
            if self.closed and slot.conn is not None:
                self.runtime.run_blocking(slot.close)
            self._slots.put(slot)

    def _call(self, slot: _Slot, tx: Callable[..., T], *args: Any) -> T:
        try:
            return self._call_once(slot, tx, args)
        except DBAPIError as exc:
            # A connection found dead while running a statement committed nothing, so one retry
            # on a new connection is safe (a stale connection after a database restart); a
            # failed COMMIT (statement None) may have committed: no retry.
            if not exc.connection_invalidated or exc.statement is None:
                raise
        return self._call_once(slot, tx, args)

    def _call_once(self, slot: _Slot, tx: Callable[..., T], args: tuple) -> T:
        if slot.conn is None:
            slot.conn = self.engine.connect()
        try:
            return tx(slot.conn, *args)
        except DBAPIError:
            slot.close()
            raise

    @staticmethod
    def _read_tx(conn: Connection, fn: Callable[..., T], args: tuple) -> T:
        with conn.begin():
            return fn(conn, *args)

    def _write_tx(self, conn: Connection, fn: Callable[..., T], args: tuple, serialize: bool) -> T:
        with conn.begin():
            self._lock_for_write(conn, serialize)
            return fn(conn, *args)

    def _lock_for_write(self, conn: Connection, serialize: bool) -> None:
        if self.dialect == "sqlite":
            # Take the write lock up front: a deferred transaction that reads and then writes
            # can fail with SQLITE_BUSY when another connection wrote, whatever busy_timeout.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif serialize:
            conn.execute(select(func.pg_advisory_xact_lock(WRITE_LOCK_KEY)))

    def _prepare_schema(self) -> None:
        with self.engine.connect() as conn:
            self._write_tx(conn, _create_or_check_schema, (), True)


def _create_or_check_schema(conn: Connection) -> None:
    version = None
    if inspect(conn).has_table(schema_version.name):
        version = conn.scalar(select(schema_version.c.version))
    if version is not None and version > SCHEMA_VERSION:
        raise SchemaError(
            f"The database schema is version {version}, newer than this server's "
            f"{SCHEMA_VERSION}: run a newer server, or point DATABASE_URL at another database."
        )
    metadata.create_all(conn)
    if version is None:
        conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
    elif version < SCHEMA_VERSION:
        migrate(conn, version)


def _create_engine(url: URL) -> Engine:
    # hide_parameters: an error's text would otherwise quote the statement's parameters
    # (message bodies, names) into any log line or traceback that shows it.
    if url.get_backend_name() == "postgresql":
        return create_engine(
            url, poolclass=NullPool, hide_parameters=True, connect_args={"connect_timeout": 10}
        )
    if url.database and url.database != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(url.database)), exist_ok=True)
    engine = create_engine(
        url, poolclass=NullPool, hide_parameters=True, connect_args={"check_same_thread": False}
    )
    event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_conn: Any, _record: Any) -> None:
    # Autocommit mode in the driver: `_lock_for_write` issues BEGIN IMMEDIATE itself.
    dbapi_conn.isolation_level = None
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    ):
        dbapi_conn.execute(pragma)
