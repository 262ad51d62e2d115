"""What a playbook action is: its context, the executor interface, its failure.

Each action kind is one :class:`Executor` (in :mod:`modelyard.orchestration.playbooks.actions`)
with a ``plan`` (what it would do, resolved against the store, no change), an ``apply`` and a
``describe`` (the outcome of a dry run); a new action is a new executor, not a branch in the
runner. Every action the runner takes is recorded as an
:class:`~modelyard.core.operations_records.ActionRecord`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.core.errors import ModelyardError
from modelyard.core.monitor_config import PlaybookAction, PlaybookConfig
from modelyard.registry.registry import Registry

Event = Mapping[str, Any]


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
