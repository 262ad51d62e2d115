"""The artifact index: one row per stored blob (digest, size, kind), whatever recorded it."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection

from modelyard.core.records import ArtifactRecord
from modelyard.store import schema as t
from modelyard.store.database import Database, now

# Hot statements built once (per-call construction dominated the cost of logging runs).
_KNOWN = select(t.artifacts.c.digest).where(t.artifacts.c.digest == bindparam("d"))
_ADD = insert(t.artifacts)


class ArtifactIndex:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def record(conn: Connection, digest: str, size: int, kind: str) -> None:
        """Index a blob in the caller's transaction (a digest already known is kept as is)."""
        if conn.execute(_KNOWN, {"d": digest}).first() is None:
            conn.execute(
                _ADD, {"digest": digest, "size_bytes": size, "kind": kind, "created_at": now()}
            )

    def all(self) -> list[ArtifactRecord]:
        with self.db.tx() as conn:
            return [
                ArtifactRecord.from_row(r) for r in conn.execute(select(t.artifacts)).mappings()
            ]
