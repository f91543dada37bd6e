"""Fixtures for every test layer: the services tests need (PostgreSQL) and storage URLs."""

import os
import secrets

import psycopg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def require_service(name: str, reachable: bool, detail: str = "") -> None:
    """Skip a test whose service is down, except under CI=true, where that is a failure."""
    if reachable:
        return
    message = f"{name} is not reachable" + (f" ({detail})" if detail else "")
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


def _postgres_admin() -> psycopg.Connection:
    return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="session")
def postgres_database():
    """A throwaway database for the session, dropped at its end: (url, None) or (None, why not)."""
    name = f"rpschat_test_{secrets.token_hex(4)}"
    try:
        with _postgres_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        yield None, f"{POSTGRES_ADMIN_URL}: {str(exc).strip()}"
        return
    url = make_url(POSTGRES_ADMIN_URL).set(database=name)
    yield url.render_as_string(hide_password=False), None
    with _postgres_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_database):
    """The session's PostgreSQL database with an empty schema: each test starts afresh."""
    url, why_not = postgres_database
    require_service("PostgreSQL", url is not None, why_not or "")
    with psycopg.connect(url, autocommit=True) as conn:
        # connections a previous test leaked (or a killed child left) would block the DROP
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return url


def _storage_url(request, tmp_path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rpschat.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def storage_url(request, tmp_path) -> str:
    """A DATABASE_URL for each storage backend."""
    return _storage_url(request, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request, tmp_path) -> str:
    """A DATABASE_URL for each SQL backend."""
    return _storage_url(request, tmp_path)
