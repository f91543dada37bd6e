"""Full-text search in the SQL database (domain/search.py): each message row keeps its words
(`search_text`, written by the statement that stores or edits it). SQLite indexes them with FTS5
(a table kept by triggers on the message table, so in the same transaction); PostgreSQL with a
generated `tsvector` column and a GIN index (computed by the same statement). Neither database's
tokenizer splits text: the words are already split, so every backend finds the same hits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, select, text, update

from rpschat.domain.ports import SearchQuery
from rpschat.domain.search import search_text

# FTS5's unicode61 folds diacritics by default; the words are folded already, and PostgreSQL
# and memory:// fold none: off, so that "café" is not found by "cafe" here alone.
_FTS_TOKENIZER = "unicode61 remove_diacritics 0"


def install_search(conn: Connection, tables: list[Table]) -> None:
    """Creates what the search needs if it is missing (idempotent; on every start)."""
    for table in tables:
        name = table.name
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS search_tsv tsvector GENERATED "
                f"ALWAYS AS (array_to_tsvector(string_to_array(search_text, ' '))) STORED"
            )
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS ix_{name}_search ON {name} USING GIN (search_tsv)"
            )
            continue
        fts = f"{name}_fts"
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (fts,)
        ).first()
        if exists:
            continue
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE {fts} USING fts5(search_text, tokenize='{_FTS_TOKENIZER}')"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {fts}(rowid, search_text) SELECT id, search_text FROM {name}"
        )
        conn.exec_driver_sql(
            f"CREATE TRIGGER {name}_fts_insert AFTER INSERT ON {name} BEGIN "
            f"INSERT INTO {fts}(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
        conn.exec_driver_sql(
            f"CREATE TRIGGER {name}_fts_delete AFTER DELETE ON {name} BEGIN "
            f"DELETE FROM {fts} WHERE rowid = old.id; END"
        )
        conn.exec_driver_sql(
            f"CREATE TRIGGER {name}_fts_update AFTER UPDATE OF search_text ON {name} BEGIN "
            f"UPDATE {fts} SET search_text = new.search_text WHERE rowid = old.id; END"
        )


def backfill_search_text(conn: Connection, table: Table) -> None:
    """Fills `search_text` of rows stored before it existed (a migration)."""
    rows = conn.execute(select(table.c.id, table.c.text)).all()
    for row in rows:
        conn.execute(
            update(table).where(table.c.id == row.id).values(search_text=search_text(row.text))
        )


def matching(conn: Connection, table: Table, query: SearchQuery) -> Any:
    """The WHERE clause for the query's words on `table` (the sender is the caller's)."""
    if not query.words:
        return text("1 = 1")
    if conn.dialect.name == "postgresql":
        # quoted lexemes are taken as they are (no parsing, no normalizing); :* is a prefix
        tsquery = " & ".join(f"'{word}':*" for word in query.words)
        return text(f"{table.name}.search_tsv @@ CAST(:tsquery AS tsquery)").bindparams(
            tsquery=tsquery
        )
    fts_query = " AND ".join(f'"{word}"*' for word in query.words)
    return table.c.id.in_(
        select(text("rowid"))
        .select_from(text(f"{table.name}_fts"))
        .where(text(f"{table.name}_fts MATCH :fts_query").bindparams(fts_query=fts_query))
    )
