"""The metadata store behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from modelyard.store.db import current_revision, head_revision, migrate
from modelyard.store.metadata import MetadataStore
from modelyard.testing.store_contract import check_store


def test_store_meets_the_contract_on_each_backend(store_url: str) -> None:
    store = MetadataStore(store_url)
    try:
        check_store(store)
    finally:
        store.close()


def test_migrations_apply_on_first_use_and_are_idempotent(store_url: str) -> None:
    store = MetadataStore(store_url)
    try:
        assert current_revision(store.engine) == head_revision()
        assert migrate(store.engine) is False, "a current schema needs no migration"
    finally:
        store.close()


def test_sqlite_store_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    store.close()
