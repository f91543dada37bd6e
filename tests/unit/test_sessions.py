"""Resume tokens in the SQL database: valid across a reopen, secret never stored, expiring."""

from sqlalchemy import create_engine, select, text

from rpschat.composition import open_storage
from rpschat.runtime import ThreadingRuntime
from rpschat.storage.sql import database
from rpschat.storage.sql.database import sessions, sqlalchemy_url
from rpschat.storage.sql.tokens import SqlTokens


class Clock(ThreadingRuntime):
    def __init__(self):
        self.time = 1_000_000.0

    def now(self):
        return self.time


def open_tokens(url, runtime, ttl=60.0):
    storage = open_storage(url, runtime)
    return storage, SqlTokens(storage.database, ttl)


def test_a_token_resolves_after_the_server_restarts(sql_url):
    runtime = Clock()
    storage, tokens = open_tokens(sql_url, runtime)
    token = tokens.issue("u1", "Ada")
    tokens.rename("u1", "Bea")
    storage.close()
    storage, tokens = open_tokens(sql_url, runtime)
    grant = tokens.resolve(token)
    assert (grant.user_id, grant.name) == ("u1", "Bea")
    storage.close()


def test_wrong_secrets_and_garbage_are_refused(sql_url):
    storage, tokens = open_tokens(sql_url, Clock())
    token = tokens.issue("u1", "Ada")
    user_id = token.split(".")[0]
    for bad in [f"{user_id}.guess", "nobody.secret", "", None, 42, "no-dot", token + "x"]:
        assert tokens.resolve(bad) is None
    storage.close()


def test_only_a_hash_of_the_secret_is_stored(sql_url):
    storage, tokens = open_tokens(sql_url, Clock())
    secret = tokens.issue("u1", "Ada").split(".", 1)[1]
    with storage.database.engine.connect() as conn:
        stored = conn.execute(select(sessions.c.secret_hash)).scalar_one()
    assert secret not in stored and len(stored) == 64
    storage.close()


def test_tokens_expire_after_their_last_use(sql_url):
    runtime = Clock()
    storage, tokens = open_tokens(sql_url, runtime, ttl=60.0)
    token = tokens.issue("u1", "Ada")
    runtime.time += 50
    assert tokens.resolve(token) is not None  # use pushes the expiry back
    runtime.time += 50
    assert tokens.resolve(token) is not None
    runtime.time += 61
    assert tokens.resolve(token) is None
    storage.close()


def test_a_version_1_database_gets_the_sessions_table(sql_url):
    storage = open_storage(sql_url, Clock())
    storage.close()
    engine = create_engine(sqlalchemy_url(sql_url))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE sessions"))
        conn.execute(database.schema_version.update().values(version=1))
    engine.dispose()
    storage, tokens = open_tokens(sql_url, Clock())
    assert tokens.resolve(tokens.issue("u1", "Ada")).name == "Ada"
    with storage.database.engine.connect() as conn:
        assert conn.scalar(select(database.schema_version.c.version)) == database.SCHEMA_VERSION
    storage.close()


def check_revoke_user(tokens):
    """Every token of the user goes (its own and its log-ins'), nobody else's."""
    mine = [tokens.issue("u1", "Ada"), tokens.issue("u1_ab12", "Ada"), tokens.issue("u1_cd", "Ada")]
    others = [tokens.issue("u10", "Bea"), tokens.issue("u10_ab", "Bea"), tokens.issue("u0", "Cyd")]
    tokens.revoke_user("u1")
    assert [tokens.resolve(t) for t in mine] == [None] * 3
    assert all(tokens.resolve(t) is not None for t in others)
    again = tokens.issue("u1_ab12", "Ada")  # a new token in a revoked slot works
    assert tokens.resolve(again).user_id == "u1"


def test_every_token_of_a_user_is_revoked_at_once_in_sql(sql_url):
    storage, tokens = open_tokens(sql_url, Clock())
    check_revoke_user(tokens)
    storage.close()


def test_every_token_of_a_user_is_revoked_at_once_in_memory():
    from rpschat.storage.memory.tokens import MemoryTokens

    check_revoke_user(MemoryTokens(60.0))
