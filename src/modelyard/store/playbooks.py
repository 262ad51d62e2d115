"""Persistence for playbook runs: one row per action in ``playbook_actions``, written in the
same transaction as the audit entry that names the alert behind it; synthetic alerts for
manual runs and rehearsals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import and_, insert, select, update

from modelyard.core.errors import NotFound
from modelyard.core.operations_records import ActionRecord
from modelyard.store import schema as t
from modelyard.store.alerts import AlertStore
from modelyard.store.metadata import MetadataStore, now

STATUSES = ("done", "failed", "dry-run", "skipped")


class PlaybookStore:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def record(
        self,
        *,
        playbook: str,
        endpoint: str,
        action: str,
        status: str,
        dry_run: bool,
        alert_id: int | None,
        details: Mapping[str, Any],
        actor: str,
        reason: str,
    ) -> ActionRecord:
        """Store one action's outcome and its audit entry in one transaction."""
        if status not in STATUSES:
            raise ValueError(f"unknown playbook action status {status!r}")
        at = now()
        values: dict[str, Any] = {
            "alert_id": alert_id,
            "endpoint": endpoint,
            "playbook": playbook,
            "action": action,
            "status": status,
            "dry_run": dry_run,
            "details": dict(details),
            "created_at": at,
        }
        with self.store.tx() as conn:
            rid = conn.execute(insert(t.playbook_actions).values(**values)).inserted_primary_key[0]  # type: ignore[index]
            self.store.audit(
                conn,
                actor,
                f"playbook.{action}",
                f"endpoint:{endpoint}",
                reason,
                {
                    "playbook": playbook,
                    "alert": alert_id,
                    "status": status,
                    "dry_run": dry_run,
                    "action_id": int(rid),
                    **{k: v for k, v in details.items() if k in ("run", "rule", "tier")},
                },
            )
        return ActionRecord(id=int(rid), **values)

    def history(
        self,
        endpoint: str | None = None,
        playbook: str | None = None,
        limit: int | None = 200,
    ) -> list[ActionRecord]:
        """Newest first."""
        pa = t.playbook_actions
        q = select(pa).order_by(pa.c.id.desc())
        if endpoint:
            q = q.where(pa.c.endpoint == endpoint)
        if playbook:
            q = q.where(pa.c.playbook == playbook)
        if limit:
            q = q.limit(limit)
        with self.store.tx() as conn:
            return [ActionRecord.from_row(r) for r in conn.execute(q).mappings()]

    def last(self, playbook: str, endpoint: str, statuses: Iterable[str]) -> ActionRecord | None:
        """The most recent action of ``playbook`` on ``endpoint`` with one of ``statuses``."""
        pa = t.playbook_actions
        q = (
            select(pa)
            .where(
                and_(
                    pa.c.playbook == playbook,
                    pa.c.endpoint == endpoint,
                    pa.c.status.in_(list(statuses)),
                )
            )
            .order_by(pa.c.id.desc())
            .limit(1)
        )
        with self.store.tx() as conn:
            row = conn.execute(q).mappings().first()
        return ActionRecord.from_row(row) if row is not None else None

    # ---- endpoints --------------------------------------------------------------------
    def endpoint_names(self) -> list[str]:
        with self.store.tx() as conn:
            names = set(conn.execute(select(t.endpoints.c.name)).scalars())
            names |= set(conn.execute(select(t.routes.c.endpoint)).scalars())
        return sorted(names)

    # ---- synthetic alerts (manual runs, rehearsals) ------------------------------------
    def open_synthetic_alert(
        self,
        endpoint: str,
        rule: str,
        tier: str,
        message: str,
        details: Mapping[str, Any],
        actor: str,
    ) -> int:
        """A real ``alerts`` row, marked ``synthetic`` in its details, firing."""
        with self.store.tx() as conn:
            aid = AlertStore.open_alert(
                conn, endpoint, rule, tier, None, message, {"synthetic": True, **details}
            )
            self.store.audit(
                conn,
                actor,
                "alert.synthetic",
                f"endpoint:{endpoint}",
                message,
                {"alert": int(aid), "rule": rule, "tier": tier, **details},
            )
        return int(aid)

    def resolve_alert(self, alert_id: int, at: dt.datetime | None = None) -> None:
        at = at or now()
        with self.store.tx() as conn:
            done = conn.execute(
                update(t.alerts)
                .where(t.alerts.c.id == alert_id)
                .values(state="resolved", resolved_at=at, updated_at=at)
            )
            if done.rowcount == 0:
                raise NotFound(f"no alert #{alert_id}")
