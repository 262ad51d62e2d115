"""Continuous training: playbooks whose ``when`` is a trigger rather than an alert.

- ``when: {new_data: true}`` runs when a dataset the endpoint's champion was trained on has a
  newer version than the one its run used (each newest set of versions runs once per endpoint);
- ``when: {every_s: 86400}`` runs on a schedule, per endpoint (the first check runs it).

The playbook's actions then run exactly as for an alert — typically ``retrain``, the same
train → gates → (approval) → canary path (:mod:`modelyard.orchestration.retrain`) — with the
cooldown honoured and every action recorded with its trigger. ``check_triggers`` is one pass,
for the ``monitor run`` loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from modelyard.core.operations_records import ActionRecord
from modelyard.monitoring.action_log import actions, last_action
from modelyard.orchestration.operations import champion
from modelyard.orchestration.playbooks.runner import Playbooks
from modelyard.registry import queries
from modelyard.registry.registry import ModelVersion, Registry

# statuses of earlier runs that count as "this trigger was handled"
HANDLED = ("done", "failed", "dry-run")


def newer_datasets(reg: Registry, mv: ModelVersion) -> dict[str, dict[str, int]]:
    """Datasets ``mv``'s run used that have a newer version: name → {used, newest}."""
    if not mv.run_id:
        return {}
    out: dict[str, dict[str, int]] = {}
    for row in queries.run_inputs(reg, mv.run_id):
        ds = row.dataset
        newest = int(queries.dataset(reg, ds.name).version)
        if newest > ds.version:
            out[ds.name] = {"used": ds.version, "newest": newest}
    return out


def _covered(reg: Registry, endpoints: tuple[str, ...]) -> list[str]:
    if endpoints:
        return list(endpoints)
    return sorted({r.endpoint for r in queries.routes(reg) if r.role == "production"})


def check_triggers(
    reg: Registry,
    *,
    actor: str = "playbook",
    clock: Callable[[], dt.datetime] | None = None,
) -> list[ActionRecord]:
    """Run every trigger playbook that is due; return the recorded actions."""
    now = (clock or (lambda: dt.datetime.now(dt.UTC)))()
    books = Playbooks(reg, actor=actor, clock=lambda: now)
    records: list[ActionRecord] = []
    for name, cfg in reg.config.playbooks.items():
        when = cfg.when
        if not (when.new_data or when.every_s):
            continue
        for endpoint in _covered(reg, cfg.endpoints):
            base = champion(reg, endpoint)
            if base is None:
                continue
            trigger = _due(reg, name, endpoint, base, when.new_data, when.every_s, now)
            if trigger is None:
                continue
            event = {
                "alert_id": None,
                "event": "fired",
                "endpoint": endpoint,
                "rule": f"trigger:{trigger['kind']}",
                "tier": None,
                "message": trigger["message"],
                "trigger": trigger,
            }
            records += books.run(name, event)
    return records


def _due(
    reg: Registry,
    name: str,
    endpoint: str,
    base: ModelVersion,
    new_data: bool,
    every_s: float | None,
    now: dt.datetime,
) -> dict[str, Any] | None:
    if new_data:
        newer = newer_datasets(reg, base)
        if newer:
            key = {n: v["newest"] for n, v in sorted(newer.items())}
            handled = any(
                (row.details.get("trigger") or {}).get("datasets") == key
                for row in actions(reg, endpoint, name, limit=500)
                if row.status in HANDLED
            )
            if not handled:
                names = ", ".join(
                    f"{n}@{v['newest']} (champion used @{v['used']})" for n, v in newer.items()
                )
                return {
                    "kind": "new_data",
                    "datasets": key,
                    "champion": base.ref,
                    "message": f"new training data for {base.ref}: {names}",
                }
    if every_s:
        last = last_action(reg, name, endpoint, HANDLED)
        if last is None or (now - last.created_at).total_seconds() >= every_s:
            return {
                "kind": "schedule",
                "every_s": every_s,
                "champion": base.ref,
                "message": f"scheduled retrain of {base.ref} (every {every_s:g}s)",
            }
    return None
