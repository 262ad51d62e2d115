"""The demo's project: its project file, its cast (an author and a reviewer) and the record of
what happened, which the acts fill in and the driver prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AUTHOR, REVIEWER = "alice", "bob"

PROJECT_YAML = """\
name: modelyard-demo
# one person plays the author, the reviewer and the operator (MODELYARD_USER), so the project
# declares it; each role is recorded in the audit log as an override of the OS account
identity: os
models:
  arrests:
    owner: risk-analytics@example.org
    objective: decide which arrestees can be released with a summons
    kpi: share of correct release decisions
    task: classification
    train: modelyard.demo.training:fit
    sla: {latency_p99_ms: 50, availability: 0.999, escalation: oncall-ml@example.org}
    gates:
      dataset: arrests-eval@1
      positive_label: "Yes"
      metrics:
        thresholds: {roc_auc: {min: 0.65}, accuracy: {min: 0.78}}
        non_inferiority: {roc_auc: 0.01}
      segments:
        - {name: young, filter: "age < 25", metric: accuracy, min: 0.75, max_gap: 0.06}
      fairness:
        attributes: [colour, sex]
        demographic_parity_difference: 0.10
        counterfactual_max_flip_rate: 0.05
      calibration: {max_ece: 0.05}
      schema:
      reproducibility: {metrics: [accuracy, roc_auc], tolerance: 1.0e-6}
      kpi: {matrix: {tp: 10, fp: -30, fn: -5, tn: 0}, max_drop_pct: 10}
    rollout: {steps: [0.25, 0.5, 1.0], interval_s: 2, min_requests: 15, max_p99_ratio: 4.0}
datasets:
  arrests-train: {target: released, protected: [colour, sex, age]}
  arrests-eval: {target: released, protected: [colour, sex, age]}
governance:
  approvals: {required: 1, four_eyes: true}
endpoints:
  arrests: {prediction_log: {input_sample: 1.0}}
monitoring:
  window_s: 3
  grace_s: 0.5
  interval_s: 1
  review: {confidence_below: 0.6, sample: 0.01}
  alerts:
    - {name: drift-warning, signal: drift.share, op: ">=", threshold: 0.25, tier: warning,
       sustain: 2, recover: 3}
    - {name: drift-critical, signal: drift.share, op: ">=", threshold: 0.5, tier: critical,
       sustain: 2, recover: 3}
    - {name: errors, signal: error_rate, threshold: 0.05, tier: emergency, sustain: 1}
playbooks:
  retrain-on-drift:
    when: {rules: [drift-critical]}
    actions: [{do: notify}, {do: retrain}]
    endpoints: [arrests]
"""


@dataclass
class DemoResult:
    root: Path
    versions: dict[str, str] = field(default_factory=dict)  # label -> ref
    gates: dict[str, bool] = field(default_factory=dict)  # ref -> passed
    reasons: dict[str, str] = field(default_factory=dict)  # ref -> failing checks
    states: dict[str, str] = field(default_factory=dict)  # ref -> final state
    champion: str | None = None
    rollout: str | None = None  # outcome of the canary of the retrained candidate
    rollouts: dict[str, str] = field(default_factory=dict)  # ref -> rollout outcome
    rollout_steps: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # "tier rule event", in order
    playbook_actions: list[str] = field(default_factory=list)  # "playbook action status"
    retrained: str | None = None  # the candidate the drift playbook trained
    retrain_rollout: str | None = None  # outcome of its canary
    server_url: str | None = None
    server: Any = field(default=None, repr=False)  # the server process, with --keep-serving
