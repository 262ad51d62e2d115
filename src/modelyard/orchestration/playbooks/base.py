"""What a playbook action is: its context, the executor interface, its failure, its record.

Each action kind is one :class:`Executor` (in :mod:`modelyard.orchestration.playbooks.actions`)
with a ``plan`` (what it would do, resolved against the store, no change), an ``apply`` and a
``describe`` (the outcome of a dry run); a new action is a new executor, not a branch in the
runner. Every action the runner takes is recorded as an :class:`ActionRecord`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from modelyard.core.errors import ModelyardError
from modelyard.core.monitor_config import PlaybookAction, PlaybookConfig
from modelyard.registry.registry import Registry

Event = Mapping[str, Any]


@dataclass(frozen=True)
class ActionRecord:
    """One recorded action of a playbook run (a row of ``playbook_actions``)."""

    id: int
    playbook: str
    endpoint: str
    action: str
    status: str  # done | failed | dry-run | skipped
    dry_run: bool
    alert_id: int | None
    details: dict[str, Any] = field(default_factory=dict)
    created_at: Any = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ActionRecord:
        return cls(
            id=int(row["id"]),
            playbook=str(row["playbook"]),
            endpoint=str(row["endpoint"]),
            action=str(row["action"]),
            status=str(row["status"]),
            dry_run=bool(row["dry_run"]),
            alert_id=row["alert_id"],
            details=dict(row["details"] or {}),
            created_at=row["created_at"],
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self.created_at, dt.datetime):
            out["created_at"] = self.created_at.isoformat()
        return out

    @property
    def summary(self) -> str:
        d = self.details
        if "error" in d:
            return str(d["error"])
        if "outcome" in d:
            return str(d["outcome"])
        if "reason" in d:
            return str(d["reason"])
        return ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("run", "rule", "tier"))


class ActionFailed(ModelyardError):
    """An action could not be carried out; ``details`` say what was found."""

    code = "playbook_action_failed"
    http_status = 409


@dataclass(frozen=True)
class ActionContext:
    reg: Registry
    playbook: str
    config: PlaybookConfig
    action: PlaybookAction
    endpoint: str
    event: Event
    actor: str
    run_id: str
    earlier: tuple[dict[str, Any], ...] = ()  # the run's earlier actions: action, status, outcome

    @property
    def reason(self) -> str:
        alert = self.event.get("alert_id")
        cause = f"alert #{alert}" if alert is not None else "trigger"
        return f"playbook {self.playbook} ({cause}: {self.event.get('rule', '?')})"


class Executor:
    """One action kind: ``plan`` resolves its concrete targets (no change), ``apply`` does it."""

    def plan(self, ctx: ActionContext) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, ctx: ActionContext, plan: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self, plan: dict[str, Any]) -> str:
        """What the plan would do, in a few words (the outcome of a dry run)."""
        raise NotImplementedError
