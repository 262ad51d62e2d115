"""Persistence for dashboard sessions (see ``schema.ui_sessions``): rows keyed by the SHA-256
of the cookie's secret, so every replica resolves the same session."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select

from modelyard.core.operations_records import SessionRecord
from modelyard.store import schema as t
from modelyard.store.metadata import MetadataStore, now


class SessionStore:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def add(
        self, id_hash: str, binding: str, principal: str, csrf: str, expires_at: dt.datetime
    ) -> None:
        """A new session; expired ones are swept in the same transaction."""
        at = now()
        with self.store.tx() as conn:
            conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.expires_at <= at))
            conn.execute(
                insert(t.ui_sessions).values(
                    id_hash=id_hash,
                    binding=binding,
                    principal=principal,
                    csrf=csrf,
                    created_at=at,
                    expires_at=expires_at,
                )
            )

    def get(self, id_hash: str) -> SessionRecord | None:
        """The live session with this hash, or None (unknown or expired)."""
        q = select(t.ui_sessions).where(
            t.ui_sessions.c.id_hash == id_hash, t.ui_sessions.c.expires_at > now()
        )
        with self.store.tx() as conn:
            row = conn.execute(q).mappings().first()
        return SessionRecord.from_row(row) if row else None

    def remove(self, id_hash: str) -> bool:
        with self.store.tx() as conn:
            done = conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.id_hash == id_hash))
        return bool(done.rowcount)
