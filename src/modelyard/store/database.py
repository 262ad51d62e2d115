"""The database the repositories share: the engine, transactions, migrations, the clock.

``Database(url)`` only stores the URL; ``open()`` creates the engine and (by default) brings
the schema to the newest revision. Work that must follow a commit (the audit checkpoint) is
queued with ``after_commit`` and runs once the transaction that queued it has committed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any, Self, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from modelyard.core.errors import ModelyardError
from modelyard.store.engine import create_store_engine, migrate

__all__ = ["Connection", "Database", "Row", "now"]  # Connection: the type transactions hand out

T = TypeVar("T")

Row = dict[str, Any]  # a row as a mapping, for the stores that have no typed record yet


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._local = threading.local()

    def open(self, *, migrate_schema: bool = True) -> Self:
        """Create the engine and, unless ``migrate_schema`` is false, migrate the schema."""
        if self._engine is None:
            self._engine = create_store_engine(self.url)
        if migrate_schema:
            self.migrate()
        return self

    def migrate(self) -> bool:
        """Bring the schema to the newest revision. Returns True if anything ran."""
        return migrate(self.engine)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise ModelyardError(f"the metadata store {self.url!r} is not open; call open()")
        return self._engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the current transaction of this thread commits (never on rollback)."""
        pending: list[Callable[[], None]] = self._local.__dict__.setdefault("pending", [])
        if fn not in pending:
            pending.append(fn)

    @contextlib.contextmanager
    def tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except BaseException:
            self._local.pending = []
            raise
        pending, self._local.pending = self._local.__dict__.get("pending", []), []
        for fn in pending:
            fn()

    def retrying_insert(self, fn: Callable[[Connection], T], attempts: int = 20) -> T:
        """Run ``fn`` in a fresh transaction, retrying when a unique version number collides."""
        for attempt in range(attempts):
            try:
                with self.tx() as conn:
                    return fn(conn)
            except SAIntegrityError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")
