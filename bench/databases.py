"""Throwaway databases for the benchmarks.

`database_url(kind)` is a context manager yielding a DATABASE_URL for our server: memory://,
a SQLite file in a fresh temporary directory, or a PostgreSQL database created for the run and
dropped after it (WITH (FORCE), so a server that is still connected does not keep it alive).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterator
from urllib.parse import urlsplit

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
STORAGES = ("memory", "sqlite", "postgres")

_serial = itertools.count(1)


def pg_unavailable(admin_url: str = PG_ADMIN_URL) -> str | None:
    """None when PostgreSQL answers at `admin_url` and lets us create databases, else why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(admin_url, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
    except Exception as e:  # any failure means: skip PostgreSQL
        return f"cannot connect to {admin_url}: {str(e).strip().splitlines()[0][:200]}"
    if not (row and row[0]):
        return f"the role of {admin_url} may not create databases"
    return None


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


@contextlib.contextmanager
def database_url(kind: str, admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    if kind == "memory":
        yield "memory://"
    elif kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="rpschat-bench-") as tmp:
            yield f"sqlite:///{tmp}/bench.db"  # four slashes: an absolute path
    elif kind == "postgres":
        yield from _postgres(admin_url)
    else:
        raise ValueError(f"unknown storage {kind!r} (one of {', '.join(STORAGES)})")


def _postgres(admin_url: str) -> Iterator[str]:
    import psycopg

    name = f"rpschat_bench_{os.getpid()}_{next(_serial)}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
