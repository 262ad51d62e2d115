"""The playbook runner: alert events (and triggers) → matching playbooks → actions, recorded.

:class:`Playbooks` takes alert events, picks the playbooks that match each ``fired`` event,
honours the cooldown per (playbook, endpoint), runs the actions in order and records each one —
its status, its concrete targets and the alert behind it — in ``playbook_actions`` and in the
audit log, in one transaction per action. A failed action stops the rest of that run (they are
recorded as skipped). A dry run records the plan with its concrete targets and changes nothing.
One run at a time holds a lease per (playbook, endpoint) across processes and replicas.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from modelyard.core.errors import ModelyardError, NotFound
from modelyard.core.monitor_config import PlaybookConfig, tier_rank
from modelyard.core.operations_records import ActionRecord
from modelyard.monitoring.action_log import last_action
from modelyard.monitoring.leader import Lease, lease_holder
from modelyard.orchestration.playbooks.base import ActionContext, Event
from modelyard.orchestration.playbooks.executors import executor_for
from modelyard.registry.registry import Registry
from modelyard.store.playbooks import PlaybookStore

log = logging.getLogger("modelyard.playbooks")

# statuses that start a cooldown: something was changed, or was tried and failed
COOLDOWN_STATUSES = ("done", "failed")


LEASE_TTL_S = 1800.0  # a run holds its lease this long at most (a crashed process frees it)


def lease_name(playbook: str, endpoint: str) -> str:
    digest = hashlib.sha256(f"{playbook}\0{endpoint}".encode()).hexdigest()[:32]
    return f"playbook:{digest}"


def matches(config: PlaybookConfig, event: Event) -> bool:
    """A ``fired`` event matches when its endpoint is covered and its rule is named in
    ``when.rules`` or its tier is at or above ``when.min_tier``."""
    if event.get("event", "fired") != "fired" or not event.get("endpoint"):
        return False
    if config.endpoints and event.get("endpoint") not in config.endpoints:
        return False
    when = config.when
    if event.get("rule") in when.rules:
        return True
    tier = event.get("tier")
    if when.min_tier is not None and tier in ("warning", "critical", "emergency"):
        return tier_rank(str(tier)) >= tier_rank(when.min_tier)
    return False


class Playbooks:
    """Runs the project's playbooks for alert events and triggers."""

    def __init__(
        self,
        reg: Registry,
        *,
        actor: str = "playbook",
        playbooks: Mapping[str, PlaybookConfig] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.reg = reg
        self.actor = actor
        self.playbooks = dict(reg.config.playbooks if playbooks is None else playbooks)
        self.records = PlaybookStore(reg.store)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def config(self, name: str) -> PlaybookConfig:
        try:
            return self.playbooks[name]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(name, list(self.playbooks), n=1)
            raise NotFound(
                f"no playbook {name!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
                hint=f"playbooks in modelyard.yaml: {', '.join(self.playbooks) or 'none'}",
            ) from None

    def handle(self, events: Iterable[Event | Any], dry_run: bool = False) -> list[ActionRecord]:
        """Run every playbook matching each ``fired`` event; other events are ignored. An
        event is a mapping (alert_id, event, endpoint, rule, tier, value, threshold, message)
        or an object with ``to_dict()`` giving one (the monitor's ``AlertEvent``)."""
        records: list[ActionRecord] = []
        for item in events:
            event: Event = item if isinstance(item, Mapping) else item.to_dict()
            for name, cfg in self.playbooks.items():
                if matches(cfg, event):
                    records += self.run(name, event, dry_run=True if dry_run else None)
        return records

    def run(
        self,
        name: str,
        event: Event,
        *,
        dry_run: bool | None = None,
        ignore_cooldown: bool = False,
    ) -> list[ActionRecord]:
        """Run playbook ``name`` for ``event`` on ``event['endpoint']``. ``dry_run``: None
        follows the playbook's own ``dry_run``; True or False overrides it (a rehearsal runs
        for real). ``ignore_cooldown`` is for runs an operator asks for explicitly."""
        cfg = self.config(name)
        endpoint = str(event["endpoint"])
        dry = cfg.dry_run if dry_run is None else dry_run
        run_id = uuid.uuid4().hex[:12]
        alert_id = event.get("alert_id")
        alert_id = int(alert_id) if alert_id is not None else None
        base = {"run": run_id, "rule": event.get("rule"), "tier": event.get("tier")}
        if event.get("trigger"):
            base["trigger"] = event["trigger"]
        # one run at a time per (playbook, endpoint) across processes and replicas, and the
        # cooldown is judged while holding it (so two replicas never both pass it)
        lease, owner = lease_name(name, endpoint), f"{socket.gethostname()}:{os.getpid()}:{run_id}"
        held = Lease(self.reg, lease, owner, LEASE_TTL_S)
        if not dry and not held.hold():
            holder = lease_holder(self.reg, lease)
            return [
                self._record(
                    name,
                    endpoint,
                    cfg.actions[0].do,
                    "skipped",
                    dry,
                    alert_id,
                    {
                        **base,
                        "reason": "another process is running this playbook on this endpoint"
                        + (f" ({holder.owner})" if holder else ""),
                    },
                )
            ]
        try:
            if not ignore_cooldown:
                skipped = self._cooldown(name, cfg, endpoint, dry, alert_id, base)
                if skipped is not None:
                    return [skipped]
            return self._run_actions(name, cfg, endpoint, event, dry, alert_id, base, run_id)
        finally:
            if not dry:
                held.release()

    def _cooldown(
        self,
        name: str,
        cfg: PlaybookConfig,
        endpoint: str,
        dry: bool,
        alert_id: int | None,
        base: dict[str, Any],
    ) -> ActionRecord | None:
        """A ``skipped`` record while the last done/failed action is within the quiet time."""
        if cfg.cooldown_s <= 0:
            return None
        last = last_action(self.reg, name, endpoint, COOLDOWN_STATUSES)
        if last is None:
            return None
        waited = (self.clock() - last.created_at).total_seconds()
        if waited >= cfg.cooldown_s:
            return None
        return self._record(
            name,
            endpoint,
            cfg.actions[0].do,
            "skipped",
            dry,
            alert_id,
            {
                **base,
                "reason": f"cooldown: last run {waited:.0f}s ago, {cfg.cooldown_s:g}s quiet time",
                "last_action": last.id,
            },
        )

    def _run_actions(
        self,
        name: str,
        cfg: PlaybookConfig,
        endpoint: str,
        event: Event,
        dry: bool,
        alert_id: int | None,
        base: dict[str, Any],
        run_id: str,
    ) -> list[ActionRecord]:
        records: list[ActionRecord] = []
        failed = False
        for i, action in enumerate(cfg.actions):
            if failed:
                records.append(
                    self._record(
                        name,
                        endpoint,
                        action.do,
                        "skipped",
                        dry,
                        alert_id,
                        {**base, "step": i + 1, "reason": "an earlier action failed"},
                    )
                )
                continue
            earlier = tuple(
                {"action": r.action, "status": r.status, "outcome": r.summary} for r in records
            )
            ctx = ActionContext(
                self.reg, name, cfg, action, endpoint, event, self.actor, run_id, earlier
            )
            executor = executor_for(action.do)
            status, details = "dry-run" if dry else "done", {**base, "step": i + 1}
            try:
                plan = executor.plan(ctx)
                details["plan"] = plan
                if dry:
                    details["outcome"] = executor.describe(plan)
                else:
                    details.update(executor.apply(ctx, plan))
            except ModelyardError as exc:
                status, failed = "failed", True
                details.update({"error": exc.message, **_jsonable(exc.details)})
                if exc.hint:
                    details["hint"] = exc.hint
            except Exception as exc:  # a broken training function must not stop the monitor
                status, failed = "failed", True
                details["error"] = f"{type(exc).__name__}: {exc}"
                log.exception("playbook %s action %s failed", name, action.do)
            records.append(self._record(name, endpoint, action.do, status, dry, alert_id, details))
        return records

    def _record(
        self,
        name: str,
        endpoint: str,
        action: str,
        status: str,
        dry: bool,
        alert_id: int | None,
        details: dict[str, Any],
    ) -> ActionRecord:
        cause = f"alert #{alert_id}" if alert_id is not None else "trigger"
        row = self.records.record(
            playbook=name,
            endpoint=endpoint,
            action=action,
            status=status,
            dry_run=dry,
            alert_id=alert_id,
            details=_jsonable(details),
            actor=self.actor,
            reason=f"playbook {name}: {action} {status} ({cause}: {details.get('rule')})",
        )
        return row


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
