"""Claimed names in the SQL database: one per look-alike key, kept across a restart, hashed."""

import pytest
from sqlalchemy import create_engine, select, text

from rpschat.composition import open_storage
from rpschat.domain.ports import Account
from rpschat.runtime import ThreadingRuntime
from rpschat.storage.confusables import NAME_RULES
from rpschat.storage.memory.accounts import MemoryAccounts
from rpschat.storage.passwords import Argon2Passwords
from rpschat.storage.sql import database
from rpschat.storage.sql.accounts import SqlAccounts
from rpschat.storage.sql.database import accounts, sqlalchemy_url


def account(name="Ada", user_id="u1", password_hash="h"):
    return Account(NAME_RULES.key(name), name, user_id, password_hash, 1)


def open_accounts(url):
    storage = open_storage(url, ThreadingRuntime())
    return storage, SqlAccounts(storage.database)


def check_store(store):
    assert store.create(account())
    assert not store.create(account("Аda", user_id="u2"))  # the same look-alike key
    assert not store.create(account("Bea", user_id="u1"))  # one claim per user
    assert store.get(NAME_RULES.key("ADA")) == account()
    assert store.of_user("u1") == account()
    assert store.get(NAME_RULES.key("Bea")) is None and store.of_user("u2") is None
    assert not store.delete(NAME_RULES.key("Ada"), "u2")  # not theirs
    assert store.delete(NAME_RULES.key("Ada"), "u1")
    assert store.get(NAME_RULES.key("Ada")) is None
    assert not store.delete(NAME_RULES.key("Ada"), "u1")


def test_memory_accounts():
    check_store(MemoryAccounts())


def test_sql_accounts(sql_url):
    storage, store = open_accounts(sql_url)
    check_store(store)
    storage.close()


def test_a_claim_survives_a_restart(sql_url):
    storage, store = open_accounts(sql_url)
    store.create(account())
    storage.close()
    storage, store = open_accounts(sql_url)
    assert store.of_user("u1") == account()
    storage.close()


def test_a_version_2_database_gets_the_accounts_table(sql_url):
    open_storage(sql_url, ThreadingRuntime()).close()
    engine = create_engine(sqlalchemy_url(sql_url))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE accounts"))
        conn.execute(database.schema_version.update().values(version=2))
    engine.dispose()
    storage, store = open_accounts(sql_url)
    assert store.create(account())
    with storage.database.engine.connect() as conn:
        assert conn.scalar(select(database.schema_version.c.version)) == database.SCHEMA_VERSION
    storage.close()


def test_only_an_argon2id_hash_of_the_password_is_stored(sql_url):
    passwords = Argon2Passwords(memory_cost=64)
    hashed = passwords.hash("correct horse")
    storage, store = open_accounts(sql_url)
    store.create(account(password_hash=hashed))
    with storage.database.engine.connect() as conn:
        stored = conn.execute(select(accounts.c.password_hash)).scalar_one()
    storage.close()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert passwords.verify(stored, "correct horse")
    assert not passwords.verify(stored, "wrong horse")
    assert not passwords.verify("not a hash", "correct horse")


@pytest.mark.parametrize("name", ["Ada", "Аda", "ADA", "Ada\u3164"])
def test_look_alikes_share_a_key(name):
    assert NAME_RULES.key(name) == NAME_RULES.key("ada")


def test_a_version_3_database_gets_ratings_and_keeps_its_standings(sql_url):
    from rpschat.storage.sql.results import SqlResults

    open_storage(sql_url, ThreadingRuntime()).close()
    engine = create_engine(sqlalchemy_url(sql_url))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE standings"))
        conn.execute(
            text(
                "CREATE TABLE standings (key VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,"
                " wins INTEGER NOT NULL, losses INTEGER NOT NULL, draws INTEGER NOT NULL)"
            )
        )
        conn.execute(text("INSERT INTO standings VALUES ('ada', 'Ada', 3, 1, 0)"))
        conn.execute(database.schema_version.update().values(version=3))
    engine.dispose()
    storage = open_storage(sql_url, ThreadingRuntime())
    results = SqlResults(storage.database, ThreadingRuntime())
    assert results.standing("Ada") == {"name": "Ada", "wins": 3, "losses": 1, "draws": 0,
                                       "rating": 1500, "deviation": 350, "provisional": True,
                                       "claimed": False}  # fmt: skip
    results.record("Ada", "Bea", ("Ada", "Bea"), "won", 1, {}, "g1", user_ids={"Ada": "u1"})
    assert results.standing("Ada")["wins"] == 4  # the old row is adopted by its next player


def test_a_version_12_database_gets_glicko_ratings_from_its_elo_ones(sql_url):
    """Schema 13: an Elo rating is kept, with a deviation from the games played (12 games:
    107, established; 3 games: provisional); one that never moved from 1500 stays at 350."""
    from rpschat.storage.sql.results import SqlResults

    open_storage(sql_url, ThreadingRuntime()).close()
    engine = create_engine(sqlalchemy_url(sql_url))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE standings"))
        conn.execute(
            text(
                "CREATE TABLE standings (key VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,"
                " wins INTEGER NOT NULL, losses INTEGER NOT NULL, draws INTEGER NOT NULL,"
                " user_id VARCHAR, rating FLOAT DEFAULT 1500 NOT NULL)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO standings VALUES ('ada', 'Ada', 9, 2, 1, 'u1', 1580.4),"
                " ('bea', 'Bea', 1, 2, 0, 'u2', 1484), ('cyd', 'Cyd', 5, 5, 0, 'u3', 1500)"
            )
        )
        conn.execute(database.schema_version.update().values(version=12))
    engine.dispose()
    storage = open_storage(sql_url, ThreadingRuntime())
    results = SqlResults(storage.database, ThreadingRuntime())
    ada, bea, cyd = (results.standing(name) for name in ("Ada", "Bea", "Cyd"))
    assert (ada["rating"], ada["deviation"], ada["provisional"]) == (1580, 107, False)
    assert (bea["rating"], bea["deviation"], bea["provisional"]) == (1484, 189, True)
    assert (cyd["rating"], cyd["deviation"], cyd["provisional"]) == (1500, 350, True)
    board = results.leaderboard()
    assert [p["name"] for p in board.players] == ["Ada"] and board.provisional == 2
    with storage.database.engine.connect() as conn:
        assert conn.scalar(database.schema_version.select()) == database.SCHEMA_VERSION
        volatility = conn.scalar(text("SELECT volatility FROM standings WHERE key = 'ada'"))
    assert volatility == 0.06
    storage.close()
    storage.close()


def test_a_version_7_database_gets_claims_and_bans_under_todays_look_alike_keys(sql_url):
    """Schema 8 folds a dot above an i away (domain/names.py): a claim stored under the old
    key of "alı̇ce" is found again by the new one, its ban too; a claim whose new key is taken
    keeps its old one (the older claim keeps the name)."""
    open_storage(sql_url, ThreadingRuntime()).close()
    engine = create_engine(sqlalchemy_url(sql_url))
    old_key = "ali\u0307ce"  # the key "alı̇ce" had before
    with engine.begin() as conn:
        conn.execute(
            database.accounts.insert().values(
                key=old_key, name="alı\u0307ce", user_id="u1", password_hash="h", created_at=1
            )
        )
        conn.execute(
            database.accounts.insert().values(
                key="kirn", name="kim", user_id="u2", password_hash="h", created_at=1
            )
        )
        conn.execute(
            database.accounts.insert().values(
                key="ki\u0307rn", name="ki\u0307m", user_id="u3", password_hash="h", created_at=2
            )
        )
        conn.execute(database.sanctions.insert().values(kind="ban", name_key=old_key, until_ms=9))
        conn.execute(database.schema_version.update().values(version=7))
    engine.dispose()  # fmt: skip
    storage, store = open_accounts(sql_url)
    assert store.get(NAME_RULES.key("alice")).user_id == "u1"
    assert store.get(NAME_RULES.key("kı\u0307m")).user_id == "u2"  # the older claim
    assert store.of_user("u3").key == "ki\u0307rn"
    with storage.database.engine.connect() as conn:
        assert conn.scalar(select(database.sanctions.c.name_key)) == NAME_RULES.key("alice")
    storage.close()
