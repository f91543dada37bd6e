"""The ports kept in SQLite or PostgreSQL (SQLAlchemy), all in the one `Database` opened from
DATABASE_URL (database.py: the schema, its migrations, the connections)."""
