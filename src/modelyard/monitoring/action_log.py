"""The playbook action log as people read it: the actions playbooks took, newest first, each
with the alert that caused it, the last action of a playbook on an endpoint, and the last run
of each playbook. (Playbooks themselves run in
``modelyard.orchestration``; this only reads what they recorded.)"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from modelyard.core.errors import NotFound
from modelyard.core.operations_records import ActionRecord
from modelyard.registry.registry import Registry
from modelyard.store.alerts import AlertStore
from modelyard.store.metadata import Row
from modelyard.store.playbooks import PlaybookStore


def actions(
    reg: Registry,
    endpoint: str | None = None,
    playbook: str | None = None,
    limit: int | None = 200,
) -> list[ActionRecord]:
    """Recorded actions, newest first."""
    return PlaybookStore(reg.store).history(endpoint, playbook, limit)


def actions_with_alerts(reg: Registry, endpoint: str | None = None, limit: int = 100) -> list[Row]:
    """Recorded actions, newest first, as the dashboard's templates read them: each action's
    fields and the alert that caused it (``alert``: the alert row, or None when the action had
    no alert or the alert is gone)."""
    alerts = AlertStore(reg.store)
    cache: dict[int, Row | None] = {}
    rows = []
    for action in actions(reg, endpoint, limit=limit):
        aid = action.alert_id
        if aid is not None and aid not in cache:
            try:
                cache[aid] = dataclasses.asdict(alerts.get(aid))
            except NotFound:  # shown by its id only
                cache[aid] = None
        rows.append(
            {**dataclasses.asdict(action), "alert": cache.get(aid) if aid is not None else None}
        )
    return rows


def last_action(
    reg: Registry, playbook: str, endpoint: str, statuses: Iterable[str]
) -> ActionRecord | None:
    """The most recent action of ``playbook`` on ``endpoint`` with one of ``statuses``."""
    return PlaybookStore(reg.store).last(playbook, endpoint, statuses)


def last_runs(reg: Registry, playbooks: Iterable[str]) -> dict[str, ActionRecord | None]:
    """Per playbook, its most recent recorded action (None when it never ran)."""
    store = PlaybookStore(reg.store)
    return {name: next(iter(store.history(playbook=name, limit=1)), None) for name in playbooks}
