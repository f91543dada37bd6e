"""The one database of every SQL store: engine from a URL, schema, connections. Opened once by
the composition root and handed to each store; closed once, after the history is drained.

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
from sqlalchemy.sql.elements import TextClause

from rpschat.domain.ports import Runtime
from rpschat.storage.common import StorageClosed, StorageUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

MEMORY_URL = "memory://"
DEFAULT_DATABASE_URL = "sqlite:///instance/chat.db"  # as in rpschat.config
SCHEMA_VERSION = 21
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
    Column("edited_at", BigInteger, nullable=True),  # ms since the epoch, once edited
    Column("reply_to", BigInteger, nullable=True),  # the id of the message it answers
    # its words, for the search (sql/search.py): written with the text
    Column("search_text", Text, nullable=False, server_default=text("''")),
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
    # schema 16: every finished game kept for its page (/game/<id>, `game_record`) and the
    # players' profiles; games against the computer too (NULL: from before, not known)
    Column("computer", Boolean, nullable=True),
    Column("user_a", String, nullable=True),  # the people's user ids (the computer has none)
    Column("user_b", String, nullable=True),
    Column("rounds", JSON, nullable=True),
    Column("ratings", JSON, nullable=True),
    Index("ix_games_user_a", "user_a", "ts"),
    Index("ix_games_user_b", "user_b", "ts"),
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
    # Glicko-2 (domain/game/glicko.py); schema 13 turned the Elo ratings into these
    Column("rating", Float, nullable=False, server_default=text("1500")),
    Column("deviation", Float, nullable=False, server_default=text("350")),
    Column("volatility", Float, nullable=False, server_default=text("0.06")),
    # schema 20: the last rated game (ms), from which an idle rating's deviation grows
    Column("rated_at", BigInteger, nullable=True),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
)

# Resume tokens, so that a restarted server still knows its users (sql/tokens.py). Only a
# hash of each token's secret is kept: a copy of the database lets nobody take over a name.
sessions = Table(
    "sessions",
    metadata,
    Column("user_id", String, primary_key=True),
    Column("secret_hash", String, nullable=False),
    Column("name", String, nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # ms since the epoch
)

# Claimed names (sql/accounts.py): the key is the name's look-alike key (domain/names.py),
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

# Moderation (sql/moderation.py): sanctions running until a time, the moderators' audit
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
    Column("reason", Text, nullable=False),  # "" when the reporter gave none
    # when a moderator resolved it (mod_resolve); open reports have none
    Column("resolved_at", BigInteger, nullable=True),
    # one report per user and message; counted per message (domain/reports.py)
    Index("ux_reports_user_message", "user_id", "message_id", unique=True),
    Index("ix_reports_message", "message_id"),
)

ignores = Table(
    "ignores",
    metadata,
    Column("user_id", String, primary_key=True),
    Column("ignored_user_id", String, primary_key=True),
)

# Roles (sql/roles.py, domain/roles.py): who holds which powers, by user id, and the names
# MODERATORS bound once (a restart never binds a name again).
roles = Table(
    "roles",
    metadata,
    Column("user_id", String, primary_key=True),
    Column("role", String, primary_key=True),
    Column("granted_by", String, nullable=False),
    Column("granted_at", BigInteger, nullable=False),  # ms since the epoch
    Index("ix_roles_role", "role"),
)

role_seeds = Table(
    "role_seeds",
    metadata,
    Column("name_key", String, primary_key=True),  # the look-alike key of the listed name
    Column("role", String, primary_key=True),
    Column("user_id", String, nullable=False),
    Column("bound_at", BigInteger, nullable=False),
)

# Rated games per pair of claimed users and UTC day (sql/results.py, game/standings.py's
# RatedPairs): only the first RATED_GAMES_PER_PAIR of a day change ratings. Days before today
# are deleted.
rated_pairs = Table(
    "rated_pairs",
    metadata,
    Column("day", Integer, primary_key=True),  # days since the epoch, UTC
    Column("pair", String, primary_key=True),  # the two user ids, sorted, joined by "|"
    Column("games", Integer, nullable=False),
)

# Each player's finished games (sql/archive.py, `my_games`): one row per player and game,
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

# Direct messages (sql/dms.py): `pair` is the two user ids sorted and joined, so a
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
    Column("edited_at", BigInteger, nullable=True),  # ms since the epoch, once edited
    Column("reply_to", BigInteger, nullable=True),  # the id of the DM it answers
    Column("search_text", Text, nullable=False, server_default=text("''")),  # sql/search.py
    Index("ix_direct_messages_pair", "pair", "id"),
    Index("ix_direct_messages_sender", "sender_id", "id"),
    Index("ix_direct_messages_recipient", "recipient_id", "unread", "id"),
    Index("ux_direct_messages_client", "sender_id", "client_id", unique=True),
    sqlite_autoincrement=True,
)

# Edits and deletes of stored messages (sql/changes.py), numbered in commit order, each
# written by the same transaction as the change itself: a resume is sent the later ones. A
# lobby message's change has room "lobby"; a DM's has no room and its two users.
message_changes = Table(
    "message_changes",
    metadata,
    Column("seq", _id_type, primary_key=True, autoincrement=True),
    Column("kind", String, nullable=False),  # edit, delete
    Column("message_id", BigInteger, nullable=False),
    Column("room", String, nullable=True),
    Column("user_a", String, nullable=True),
    Column("user_b", String, nullable=True),
    Column("ts", BigInteger, nullable=False),
    sqlite_autoincrement=True,
)

# Reactions to lobby messages (dm false) and DMs (dm true): one row per user, emoji and message
# (sql/changes.py); toggled in the transaction that records the change.
reactions = Table(
    "reactions",
    metadata,
    Column("dm", Boolean, primary_key=True),
    Column("message_id", BigInteger, primary_key=True),
    Column("emoji", String, primary_key=True),
    Column("user_id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("ts", BigInteger, nullable=False),
)

# The room's settings moderators change (slow mode: sql/moderation.py), shared by every node.
room_settings = Table(
    "room_settings",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", String, nullable=False),
)

# schema 21: a finished arena (game/arenas.py's Arena, as a dict: settings, start and end, every
# player's final score, the podium), kept for good for its page /arena/<id> (sql/results.py)
arena_records = Table(
    "arena_records",
    metadata,
    Column("arena_id", String, primary_key=True),
    Column("ends_at", BigInteger, nullable=False),  # ms since the epoch
    Column("record", JSON, nullable=False),
)

# MIGRATIONS[v] upgrades a version-v database to v + 1; bump SCHEMA_VERSION along with it
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: lambda conn: sessions.create(conn, checkfirst=True),
    2: lambda conn: accounts.create(conn, checkfirst=True),
    3: lambda conn: _add_columns(conn, standings, "user_id", "rating"),
    4: lambda conn: metadata.create_all(
        conn, tables=[sanctions, mod_actions, reports, ignores], checkfirst=True
    ),
    5: lambda conn: game_records.create(conn, checkfirst=True),
    6: lambda conn: direct_messages.create(conn, checkfirst=True),
    7: lambda conn: _rekey_look_alikes(conn),
    8: lambda conn: metadata.create_all(conn, tables=[roles, role_seeds], checkfirst=True),
    9: lambda conn: _one_report_per_user_and_message(conn),
    10: lambda conn: rated_pairs.create(conn, checkfirst=True),
    11: lambda conn: _edits(conn),
    12: lambda conn: _elo_to_glicko(conn),
    13: lambda conn: _replies(conn),
    14: lambda conn: reactions.create(conn, checkfirst=True),
    15: lambda conn: _games_kept_for_good(conn),
    16: lambda conn: _search_text(conn),
    17: lambda conn: room_settings.create(conn, checkfirst=True),
    18: lambda conn: _add_columns(conn, reports, "resolved_at"),
    19: lambda conn: _add_columns(conn, standings, "rated_at"),
    20: lambda conn: arena_records.create(conn, checkfirst=True),
}


def _search_text(conn: Connection) -> None:
    from rpschat.storage.sql.search import backfill_search_text

    for table in (messages, direct_messages):
        _add_columns(conn, table, "search_text")
        backfill_search_text(conn, table)


def _replies(conn: Connection) -> None:
    _add_columns(conn, messages, "reply_to")
    _add_columns(conn, direct_messages, "reply_to")


def _edits(conn: Connection) -> None:
    _add_columns(conn, messages, "edited_at")
    _add_columns(conn, direct_messages, "edited_at")
    message_changes.create(conn, checkfirst=True)


def _rekey_look_alikes(conn: Connection) -> None:
    """Claims and bans under the look-alike key of today's rules (domain/names.py: a dot above
    an i is folded away since schema 8). A claim whose new key another claim holds already
    keeps its old one: the older claim keeps the name, and the log says so."""
    from rpschat.storage.confusables import look_alike_key

    rows = conn.execute(select(accounts.c.key, accounts.c.name)).all()
    taken = {row.key for row in rows}
    for old, name in rows:
        new = look_alike_key(name)
        if new == old:
            continue
        if new in taken:
            logger.warning("the claim of %r keeps its old look-alike key: %r is claimed", name, new)
            continue
        conn.execute(update(accounts).where(accounts.c.key == old).values(key=new))
        conn.execute(update(sanctions).where(sanctions.c.name_key == old).values(name_key=new))
        taken.discard(old)
        taken.add(new)


def _games_kept_for_good(conn: Connection) -> None:
    _add_columns(conn, games, "computer", "user_a", "user_b", "rounds", "ratings")
    for index in games.indexes:
        index.create(conn, checkfirst=True)


def _elo_to_glicko(conn: Connection) -> None:
    """Elo ratings become Glicko-2 ones: the rating kept, a deviation from the games played
    (domain/game/glicko.py's `deviation_after`), the starting volatility. A rating that never
    moved from 1500 (a guest's, or a claimed name that only met guests) stays at 350."""
    from rpschat.domain.game.glicko import deviation_after

    _add_columns(conn, standings, "deviation", "volatility")
    c = standings.c
    for key, rating, played in conn.execute(
        select(c.key, c.rating, c.wins + c.losses + c.draws)
    ).all():
        if rating != 1500:
            conn.execute(
                update(standings).where(c.key == key).values(deviation=deviation_after(played))
            )


def _one_report_per_user_and_message(conn: Connection) -> None:
    """Repeated reports (one user, one message) kept once, the first; then the indexes."""
    c = reports.c
    first = select(func.min(c.id)).group_by(c.user_id, c.message_id)
    conn.execute(reports.delete().where(c.id.not_in(first)))
    for index in reports.indexes:
        index.create(conn, checkfirst=True)


def _add_columns(conn: Connection, table: Table, *names: str) -> None:
    """ALTER TABLE ... ADD COLUMN for columns the table's definition has and the database lacks."""
    present = {column["name"] for column in inspect(conn).get_columns(table.name)}
    for name in names:
        if name in present:
            continue
        column = table.c[name]
        kind = column.type.compile(dialect=conn.dialect)
        arg = getattr(column.server_default, "arg", None)  # a DefaultClause's: our text()
        default = f" DEFAULT {arg.text}" if isinstance(arg, TextClause) else ""
        null = "" if column.nullable else " NOT NULL"
        conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}{default}{null}")


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
    from rpschat.storage.sql.search import install_search

    install_search(conn, [messages, direct_messages])


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
