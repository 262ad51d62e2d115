"""Persistence for rollouts and leader leases."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from modelyard.core.errors import Conflict, NotFound
from modelyard.core.operations_records import LeaseHolder, Rollout
from modelyard.store import schema as t
from modelyard.store.metadata import MetadataStore, now

RUNNING = "running"


class RolloutStore:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def create(self, values: dict[str, Any], actor: str, reason: str) -> int:
        with self.store.tx() as conn:
            busy = conn.execute(
                select(t.rollouts.c.id).where(
                    and_(
                        t.rollouts.c.endpoint == values["endpoint"], t.rollouts.c.status == RUNNING
                    )
                )
            ).first()
            if busy is not None:
                raise Conflict(
                    f"endpoint {values['endpoint']!r} already has rollout #{busy.id} running",
                    hint="wait for it, or roll back with `modelyard rollback ENDPOINT`",
                )
            at = now()
            rid = conn.execute(
                insert(t.rollouts).values(
                    step=0,
                    status=RUNNING,
                    failures=0,
                    history=[],
                    created_by=actor,
                    created_at=at,
                    step_started_at=at,
                    updated_at=at,
                    **values,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            self.store.audit(
                conn,
                actor,
                "rollout.start",
                f"endpoint:{values['endpoint']}",
                reason,
                {"rollout": rid, "strategy": values["strategy"]},
            )
            return int(rid)

    def get(self, rollout_id: int) -> Rollout:
        with self.store.tx() as conn:
            row = (
                conn.execute(select(t.rollouts).where(t.rollouts.c.id == rollout_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no rollout #{rollout_id}")
        return Rollout.from_row(row)

    def list(self, endpoint: str | None = None, status: str | None = None) -> list[Rollout]:
        q = select(t.rollouts).order_by(t.rollouts.c.id)
        if endpoint:
            q = q.where(t.rollouts.c.endpoint == endpoint)
        if status:
            q = q.where(t.rollouts.c.status == status)
        with self.store.tx() as conn:
            return [Rollout.from_row(r) for r in conn.execute(q).mappings()]

    def save(
        self, rollout_id: int, actor: str, action: str | None, reason: str, **values: Any
    ) -> None:
        with self.store.tx() as conn:
            conn.execute(
                update(t.rollouts)
                .where(t.rollouts.c.id == rollout_id)
                .values(updated_at=now(), **values)
            )
            if action:
                endpoint = conn.execute(
                    select(t.rollouts.c.endpoint).where(t.rollouts.c.id == rollout_id)
                ).scalar_one()
                self.store.audit(
                    conn,
                    actor,
                    action,
                    f"endpoint:{endpoint}",
                    reason,
                    {
                        "rollout": rollout_id,
                        **{
                            k: v
                            for k, v in values.items()
                            if k not in ("history", "step_started_at")
                        },
                    },
                )

    # ---- leases ----------------------------------------------------------------------------
    def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the lease ``name``; True if ``owner`` holds it afterwards."""
        at = now()
        until = at + dt.timedelta(seconds=ttl_s)
        try:
            with self.store.tx() as conn:
                done = conn.execute(
                    update(t.leases)
                    .where(
                        and_(
                            t.leases.c.name == name,
                            or_(t.leases.c.owner == owner, t.leases.c.expires_at < at),
                        )
                    )
                    .values(owner=owner, expires_at=until)
                )
                if done.rowcount == 1:
                    return True
                exists = conn.execute(
                    select(t.leases.c.name).where(t.leases.c.name == name)
                ).first()
                if exists is None:
                    conn.execute(insert(t.leases).values(name=name, owner=owner, expires_at=until))
                    return True
                return False
        except SAIntegrityError:  # another process inserted it first
            return False

    def release(self, name: str, owner: str) -> None:
        with self.store.tx() as conn:
            conn.execute(
                t.leases.delete().where(and_(t.leases.c.name == name, t.leases.c.owner == owner))
            )

    def holder(self, name: str) -> LeaseHolder | None:
        with self.store.tx() as conn:
            row = conn.execute(select(t.leases).where(t.leases.c.name == name)).mappings().first()
        return LeaseHolder.from_row(row) if row else None
