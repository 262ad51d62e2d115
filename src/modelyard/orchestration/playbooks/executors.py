"""Executors by action name: the ``do`` of a playbook action picks one."""

from __future__ import annotations

from collections.abc import Callable

from modelyard.orchestration.playbooks.actions.notify import Notify
from modelyard.orchestration.playbooks.actions.retrain import Retrain
from modelyard.orchestration.playbooks.actions.rollback import Rollback
from modelyard.orchestration.playbooks.actions.shift import Shift
from modelyard.orchestration.playbooks.actions.throttle import Throttle
from modelyard.orchestration.playbooks.base import Executor

EXECUTORS: dict[str, Callable[[], Executor]] = {
    "rollback": Rollback,
    "shift": Shift,
    "throttle": Throttle,
    "retrain": Retrain,
    "notify": Notify,
}


def executor_for(do: str) -> Executor:
    """A new executor for action ``do`` (one of the names the project file accepts)."""
    return EXECUTORS[do]()
