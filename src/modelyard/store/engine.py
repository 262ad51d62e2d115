"""Engine creation and automatic migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from modelyard.core.errors import ConfigError, ModelyardError

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """Accept the URLs users type (``postgresql://``) and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_store_engine(url: str) -> Engine:
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"invalid store URL {url!r}: expected sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # SQLite's own transaction handling is replaced so BEGIN IMMEDIATE can be issued.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise ConfigError(
        f"unsupported store backend {backend!r} in {url!r}: expected sqlite or postgresql"
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    # REPLACE deletes the conflicting row; with recursive triggers that delete fires the
    # DELETE triggers (the audit log refuses it) instead of passing silently.
    cur.execute("PRAGMA recursive_triggers=ON")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock at BEGIN, so read-then-write transactions from two
    # processes serialise instead of failing with "database is locked" on upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(None)  # type: ignore[arg-type]
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection | None]:
    """Only one process migrates at a time: a file lock on SQLite, an advisory lock on PG."""
    if engine.dialect.name == "sqlite":
        db = engine.url.database
        if not db or db == ":memory:":
            yield None
            return
        with open(f"{db}.migrate.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield None
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    else:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(7277001)"))
            conn.commit()
            try:
                yield conn
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(7277001)"))
                conn.commit()


def migrate(engine: Engine) -> bool:
    """Bring the schema to the newest revision. Returns True if anything ran."""
    from alembic import command

    head = head_revision()
    try:
        if current_revision(engine) == head:
            return False
    except OperationalError as exc:
        raise ModelyardError(
            f"cannot reach the metadata store {engine.url!r}: {exc.orig}"
        ) from None
    with _migration_lock(engine):
        if current_revision(engine) == head:
            return False
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "head")
    return True
