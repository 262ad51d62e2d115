"""The metadata store behaves the same on SQLite and PostgreSQL, repository by repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.core.errors import ModelyardError
from modelyard.store.engine import current_revision, head_revision
from modelyard.store.metadata import MetadataStore
from modelyard.testing.store_contract import CHECKS, check_store


@pytest.fixture
def store(store_url: str) -> Iterator[MetadataStore]:
    store = MetadataStore(store_url).open()
    yield store
    store.close()


@pytest.mark.parametrize("repository", sorted(CHECKS))
def test_each_repository_meets_the_contract(store: MetadataStore, repository: str) -> None:
    CHECKS[repository](store)


def test_store_meets_the_whole_contract_on_each_backend(store: MetadataStore) -> None:
    check_store(store)


def test_constructing_a_store_touches_nothing(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'sub' / 'm.db'}")
    assert not (tmp_path / "sub").exists(), "the constructor only stores the URL"
    with pytest.raises(ModelyardError, match="not open"):
        store.versions.all()


def test_migrations_apply_on_open_and_are_idempotent(store: MetadataStore) -> None:
    assert current_revision(store.engine) == head_revision()
    assert store.migrate() is False, "a current schema needs no migration"


def test_sqlite_store_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}").open()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    store.close()
