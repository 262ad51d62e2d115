"""Remediation playbooks: alerts mapped to actions (roll back, shift, throttle, retrain, notify).

A playbook in the project file (``playbooks:``) names when it runs (alert rule names, a minimum
tier, or a continuous-training trigger), which endpoints it covers, and its actions in order.

Modules, one job each: ``base`` (the action context, the executor interface, the record),
``actions`` (one module per action kind, like ``gates/checks``), ``executors`` (action name →
executor), ``runner`` (:class:`Playbooks`: matching, cooldown, lease, recording) and ``manual``
(:func:`run_synthetic`: manual runs and rehearsals).
"""

from modelyard.core.operations_records import ActionRecord
from modelyard.orchestration.playbooks.manual import run_synthetic
from modelyard.orchestration.playbooks.runner import Playbooks

__all__ = ["ActionRecord", "Playbooks", "run_synthetic"]
