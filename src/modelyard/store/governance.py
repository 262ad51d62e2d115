"""Persistence for approvals and API tokens (governance), with audit in the same transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection

from modelyard.core.errors import Conflict, NotFound
from modelyard.core.lifecycle import State
from modelyard.core.operations_records import ApprovalDecision, Approver, TokenRecord
from modelyard.store import schema as t
from modelyard.store.metadata import MetadataStore, now


class GovernanceStore:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # ---- approvals -----------------------------------------------------------------------
    def add_decision(
        self,
        conn: Connection,
        version_id: int,
        actor: str,
        principal: str,
        decision: str,
        comment: str,
        target: str,
    ) -> None:
        """Record a decision inside the caller's transaction: the caller commits it together
        with the transition it causes, or rolls both back when that transition is refused."""
        conn.execute(
            insert(t.approvals).values(
                model_version_id=version_id,
                actor=actor,
                principal=principal,
                decision=decision,
                comment=comment,
                at=now(),
            )
        )
        self.store.audit(
            conn, actor, f"model.{decision}", target, comment, {"principal": principal}
        )

    def current_approvers(self, version_id: int, conn: Connection | None = None) -> list[Approver]:
        """Approvals since the version last became validated (a re-gated version starts
        afresh), one per principal, in order: rows with ``actor`` and ``principal``."""
        if conn is None:
            with self.store.tx() as own:
                return self.current_approvers(version_id, own)
        since = None
        steps = conn.execute(
            select(t.transitions.c.to_state, t.transitions.c.at)
            .where(t.transitions.c.model_version_id == version_id)
            .order_by(t.transitions.c.id)
        )
        for step in steps:
            if step.to_state == State.VALIDATED.value:
                since = step.at
        out: list[Approver] = []
        seen: set[str] = set()
        for d in self._decisions(conn, version_id):
            who = d.principal or f"legacy:{d.actor}"
            fresh = since is None or d.at >= since
            if d.decision == "approve" and fresh and who not in seen:
                seen.add(who)
                out.append(Approver(actor=d.actor, principal=who))
        return out

    def _decisions(self, conn: Connection, version_id: int) -> list[ApprovalDecision]:
        q = (
            select(t.approvals)
            .where(t.approvals.c.model_version_id == version_id)
            .order_by(t.approvals.c.id)
        )
        return [ApprovalDecision.from_row(r) for r in conn.execute(q).mappings()]

    def decisions(self, version_id: int) -> list[ApprovalDecision]:
        q = (
            select(t.approvals)
            .where(t.approvals.c.model_version_id == version_id)
            .order_by(t.approvals.c.id)
        )
        with self.store.tx() as conn:
            return [ApprovalDecision.from_row(r) for r in conn.execute(q).mappings()]

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
                f"role {values['role']} for {values['principal']}",
                {"id": values["id"], "role": values["role"], "owner": values["principal"]},
            )

    def token(self, token_id: str) -> TokenRecord | None:
        with self.store.tx() as conn:
            row = conn.execute(select(t.tokens).where(t.tokens.c.id == token_id)).mappings().first()
        return TokenRecord.from_row(row) if row else None

    def tokens(self) -> list[TokenRecord]:
        with self.store.tx() as conn:
            q = select(t.tokens).order_by(t.tokens.c.created_at)
            return [TokenRecord.from_row(r) for r in conn.execute(q).mappings()]

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


def expired(token: TokenRecord, at: dt.datetime | None = None) -> bool:
    at = at or now()
    return token.expires_at is not None and token.expires_at <= at
