"""Persistence for approvals and API tokens (governance), with audit in the same transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, insert, select, update

from modelyard.core.errors import Conflict, NotFound
from modelyard.core.lifecycle import State
from modelyard.store import schema as t
from modelyard.store.metadata import MetadataStore, Row, now


class GovernanceStore:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # ---- approvals -----------------------------------------------------------------------
    def add_decision(
        self, version_id: int, actor: str, decision: str, comment: str, target: str
    ) -> None:
        with self.store.tx() as conn:
            conn.execute(
                insert(t.approvals).values(
                    model_version_id=version_id,
                    actor=actor,
                    decision=decision,
                    comment=comment,
                    at=now(),
                )
            )
            self.store.audit(conn, actor, f"model.{decision}", target, comment)

    def current_approvers(self, version_id: int) -> list[str]:
        """Distinct approvers since the version last became validated, in order (a re-gated
        version starts afresh)."""
        since = None
        for step in self.store.transitions_of(version_id):
            if step["to_state"] == State.VALIDATED.value:
                since = step["at"]
        out: list[str] = []
        for d in self.decisions(version_id):
            fresh = since is None or d["at"] >= since
            if d["decision"] == "approve" and fresh and d["actor"] not in out:
                out.append(d["actor"])
        return out

    def decisions(self, version_id: int) -> list[Row]:
        q = (
            select(t.approvals)
            .where(t.approvals.c.model_version_id == version_id)
            .order_by(t.approvals.c.id)
        )
        with self.store.tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # ---- tokens --------------------------------------------------------------------------
    def add_token(self, values: dict[str, Any]) -> None:
        with self.store.tx() as conn:
            exists = conn.execute(
                select(t.tokens.c.id).where(
                    and_(t.tokens.c.name == values["name"], t.tokens.c.revoked_at.is_(None))
                )
            ).first()
            if exists:
                raise Conflict(
                    f"a token named {values['name']!r} already exists",
                    hint="revoke it first or choose another name",
                )
            conn.execute(t.tokens.delete().where(t.tokens.c.name == values["name"]))
            conn.execute(insert(t.tokens).values(created_at=now(), **values))
            self.store.audit(
                conn,
                values["created_by"],
                "token.create",
                f"token:{values['name']}",
                f"role {values['role']}",
                {"id": values["id"], "role": values["role"]},
            )

    def token(self, token_id: str) -> Row | None:
        with self.store.tx() as conn:
            row = conn.execute(select(t.tokens).where(t.tokens.c.id == token_id)).mappings().first()
        return dict(row) if row else None

    def tokens(self) -> list[Row]:
        with self.store.tx() as conn:
            q = select(t.tokens).order_by(t.tokens.c.created_at)
            return [dict(r) for r in conn.execute(q).mappings()]

    def revoke_token(self, name: str, actor: str, reason: str) -> None:
        with self.store.tx() as conn:
            done = conn.execute(
                update(t.tokens)
                .where(and_(t.tokens.c.name == name, t.tokens.c.revoked_at.is_(None)))
                .values(revoked_at=now())
            )
            if done.rowcount != 1:
                raise NotFound(f"no active token named {name!r}")
            self.store.audit(conn, actor, "token.revoke", f"token:{name}", reason)


def expired(row: Row, at: dt.datetime | None = None) -> bool:
    at = at or now()
    return row["expires_at"] is not None and row["expires_at"] <= at
