"""Persistence for alerts: firing episodes, the sustain/recover counters per (endpoint, rule),
and every attempt to hand an event to a sink.

The monitoring layer decides (``monitoring.alerts``); this module only reads and writes rows.
Counter updates and the alert they open or close happen in one transaction (``judge``), so a
crash between them cannot leave a counter that says "fired" without its alert.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection

from modelyard.core.errors import Conflict, NotFound
from modelyard.core.monitoring_records import Alert, AlertDelivery, AlertRuleState
from modelyard.store import schema as t
from modelyard.store.metadata import MetadataStore, now

OPEN_STATES = ("firing", "acknowledged")
STATES = ("firing", "acknowledged", "resolved")

# judge(conn, state_row_or_None, open_alert_or_None) -> (new state values, alert change)
JudgeFn = Callable[[Connection, AlertRuleState | None, Alert | None], Any]


@dataclass(frozen=True)
class OpenAlert:
    """An alert episode not resolved yet (firing or acknowledged)."""

    id: int
    endpoint: str
    rule: str
    tier: str
    state: str
    started_at: dt.datetime


class AlertStore:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # ---- counters and episodes, in one transaction -------------------------------------
    def judge(self, endpoint: str, rule: str, fn: JudgeFn) -> Any:
        """Run ``fn(conn, state, open_alert)`` in one transaction and return what it returns.

        ``state`` is the rule's counter row (None before its first window), ``open_alert`` its
        firing or acknowledged episode (None when there is none). ``fn`` writes through
        ``save_state``, ``open_alert`` and ``close_alert`` with the same ``conn``.
        """
        with self.store.tx() as conn:
            s = t.alert_rule_state
            state = (
                conn.execute(select(s).where(and_(s.c.endpoint == endpoint, s.c.rule == rule)))
                .mappings()
                .first()
            )
            return fn(
                conn,
                None if state is None else AlertRuleState.from_row(state),
                self._open(conn, endpoint, rule),
            )

    @staticmethod
    def _open(conn: Connection, endpoint: str, rule: str) -> Alert | None:
        a = t.alerts
        row = (
            conn.execute(
                select(a)
                .where(and_(a.c.endpoint == endpoint, a.c.rule == rule, a.c.state.in_(OPEN_STATES)))
                .order_by(a.c.id.desc())
            )
            .mappings()
            .first()
        )
        return None if row is None else Alert.from_row(row)

    @staticmethod
    def save_state(
        conn: Connection,
        endpoint: str,
        rule: str,
        breaches: int,
        clears: int,
        last_start: dt.datetime | None,
        existed: bool,
    ) -> None:
        s = t.alert_rule_state
        values = {
            "breaches": breaches,
            "clears": clears,
            "last_start": last_start,
            "updated_at": now(),
        }
        if existed:
            conn.execute(
                update(s).where(and_(s.c.endpoint == endpoint, s.c.rule == rule)).values(**values)
            )
        else:
            conn.execute(insert(s).values(endpoint=endpoint, rule=rule, **values))

    @staticmethod
    def open_alert(
        conn: Connection,
        endpoint: str,
        rule: str,
        tier: str,
        value: float | None,
        message: str,
        details: dict[str, Any],
    ) -> int:
        at = now()
        new_id = conn.execute(
            insert(t.alerts).values(
                endpoint=endpoint,
                rule=rule,
                tier=tier,
                state="firing",
                value=value,
                message=message,
                details=details,
                started_at=at,
                updated_at=at,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        return int(new_id)

    @staticmethod
    def touch_alert(
        conn: Connection, alert_id: int, value: float | None, details: dict[str, Any]
    ) -> None:
        """A still-breaching window of an open episode: its latest value."""
        conn.execute(
            update(t.alerts)
            .where(t.alerts.c.id == alert_id)
            .values(value=value, details=details, updated_at=now())
        )

    @staticmethod
    def close_alert(conn: Connection, alert_id: int, details: dict[str, Any]) -> None:
        at = now()
        conn.execute(
            update(t.alerts)
            .where(t.alerts.c.id == alert_id)
            .values(state="resolved", details=details, updated_at=at, resolved_at=at)
        )

    # ---- people acting on an alert -------------------------------------------------------
    def acknowledge(self, alert_id: int, actor: str, reason: str) -> Alert:
        """firing → acknowledged (stays open until recovery); audited."""
        with self.store.tx() as conn:
            row = self._get(conn, alert_id)
            if row.state != "firing":
                raise Conflict(
                    f"alert #{alert_id} is {row.state}; only a firing alert can be acknowledged",
                    hint="`modelyard alerts list --state firing` shows the ones that can",
                )
            conn.execute(
                update(t.alerts)
                .where(t.alerts.c.id == alert_id)
                .values(state="acknowledged", acknowledged_by=actor, updated_at=now())
            )
            self._audit(conn, actor, "alert.acknowledge", row, reason)
            return self._get(conn, alert_id)

    def resolve(self, alert_id: int, actor: str, reason: str) -> Alert:
        """firing|acknowledged → resolved by hand; the rule's counters restart; audited."""
        with self.store.tx() as conn:
            row = self._get(conn, alert_id)
            if row.state not in OPEN_STATES:
                raise Conflict(f"alert #{alert_id} is already resolved")
            details = {**row.details, "resolved_by": actor, "resolution": "manual"}
            self.close_alert(conn, alert_id, details)
            s = t.alert_rule_state
            conn.execute(
                update(s)
                .where(and_(s.c.endpoint == row.endpoint, s.c.rule == row.rule))
                .values(breaches=0, clears=0, updated_at=now())
            )
            self._audit(conn, actor, "alert.resolve", row, reason)
            return self._get(conn, alert_id)

    def _audit(self, conn: Connection, actor: str, action: str, row: Alert, reason: str) -> None:
        """A person's action on the alert ``row``, on the audit chain of its endpoint."""
        self.store.audit(
            conn,
            actor,
            action,
            f"endpoint:{row.endpoint}",
            reason,
            {"alert": row.id, "rule": row.rule, "tier": row.tier},
        )

    # ---- reading -------------------------------------------------------------------------
    @staticmethod
    def _get(conn: Connection, alert_id: int) -> Alert:
        row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).mappings().first()
        if row is None:
            raise NotFound(
                f"no alert #{alert_id}", hint="`modelyard alerts list --state all` lists them"
            )
        return Alert.from_row(row)

    def get(self, alert_id: int) -> Alert:
        with self.store.tx() as conn:
            return self._get(conn, alert_id)

    def find(
        self,
        states: tuple[str, ...] = STATES,
        endpoint: str | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        """Alerts in those states, newest first."""
        a = t.alerts
        q = select(a).where(a.c.state.in_(states)).order_by(a.c.id.desc())
        if endpoint is not None:
            q = q.where(a.c.endpoint == endpoint)
        if limit is not None:
            q = q.limit(limit)
        with self.store.tx() as conn:
            return [Alert.from_row(r) for r in conn.execute(q).mappings()]

    def open_on(self, endpoints: Iterable[str]) -> list[OpenAlert]:
        """Alerts not resolved yet on any of ``endpoints``, oldest first."""
        a = t.alerts
        q = (
            select(a.c.id, a.c.endpoint, a.c.rule, a.c.tier, a.c.state, a.c.started_at)
            .where(and_(a.c.endpoint.in_(sorted(set(endpoints))), a.c.state.in_(OPEN_STATES)))
            .order_by(a.c.id)
        )
        with self.store.tx() as conn:
            return [OpenAlert(**r) for r in conn.execute(q).mappings()]

    def states(self, endpoint: str | None = None) -> list[AlertRuleState]:
        s = t.alert_rule_state
        q = select(s).order_by(s.c.endpoint, s.c.rule)
        if endpoint is not None:
            q = q.where(s.c.endpoint == endpoint)
        with self.store.tx() as conn:
            return [AlertRuleState.from_row(r) for r in conn.execute(q).mappings()]

    # ---- deliveries ----------------------------------------------------------------------
    def record_delivery(
        self,
        alert_id: int,
        sink: str,
        event: str,
        status: str,
        attempts: int,
        error: str | None,
        payload: dict[str, Any],
    ) -> int:
        """One attempt's outcome: ``failed`` (will retry), ``delivered`` or ``dead``."""
        with self.store.tx() as conn:
            new_id = conn.execute(
                insert(t.alert_deliveries).values(
                    alert_id=alert_id,
                    sink=sink,
                    event=event,
                    status=status,
                    attempts=attempts,
                    error=error,
                    payload=payload,
                    created_at=now(),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            return int(new_id)

    def deliveries(
        self, status: str | None = None, alert_id: int | None = None, limit: int | None = None
    ) -> list[AlertDelivery]:
        """Delivery attempts, newest first."""
        d = t.alert_deliveries
        q = select(d).order_by(d.c.id.desc())
        if status is not None:
            q = q.where(d.c.status == status)
        if alert_id is not None:
            q = q.where(d.c.alert_id == alert_id)
        if limit is not None:
            q = q.limit(limit)
        with self.store.tx() as conn:
            return [AlertDelivery.from_row(r) for r in conn.execute(q).mappings()]
