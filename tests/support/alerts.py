"""Alert rows written straight into the store, for tests that need alerts of given ages."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from modelyard.registry.registry import Registry
from modelyard.store import schema as t


def insert_alert(reg: Registry, endpoint: str, rule: str, state: str, at: dt.datetime) -> None:
    """A warning-tier alert of ``rule`` on ``endpoint`` in ``state``, started (and last updated)
    at ``at``."""
    with reg.store.tx() as conn:
        conn.execute(
            insert(t.alerts).values(
                endpoint=endpoint,
                rule=rule,
                tier="warning",
                state=state,
                value=0.4,
                message=f"{rule} breached",
                details={},
                started_at=at,
                updated_at=at,
            )
        )
