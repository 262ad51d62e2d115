"""Shared fixtures: real SQLite files and a real PostgreSQL schema per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.pg import fresh_schema

if TYPE_CHECKING:
    from modelyard.registry.registry import Registry

PG_URL = os.environ.get("MODELYARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(
            PG_URL.replace("postgresql://", "postgresql://", 1), connect_timeout=3
        ):
            return None
    except Exception as exc:  # report why, below
        return str(exc)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    problem = _pg_available()
    if problem:
        if os.environ.get("MODELYARD_REQUIRE_POSTGRES") or os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required here but not reachable at {PG_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {problem}")
    return PG_URL


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    with fresh_schema(postgres_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    path = tmp_path / "proj"
    path.mkdir()
    return path


@pytest.fixture
def registry(project_dir: Path, store_url: str) -> Iterator[Registry]:
    from modelyard.registry.registry import Registry

    env = {"MODELYARD_STORE_URL": store_url, "MODELYARD_USER": "tester"}
    reg = Registry.init(project_dir, env=env, identity="os")
    yield reg
    reg.close()


@pytest.fixture
def local_registry(project_dir: Path) -> Iterator[Registry]:
    """A registry on the zero-service default (SQLite in the project folder)."""
    from modelyard.registry.registry import Registry

    reg = Registry.init(project_dir, env={"MODELYARD_USER": "tester"}, identity="os")
    yield reg
    reg.close()
