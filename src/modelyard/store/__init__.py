"""Store: metadata (SQLAlchemy + Alembic) and content-addressed artifacts (fsspec)."""
