"""Remediation playbooks and continuous training, on SQLite and PostgreSQL, with real models
trained on the arrests data: alerts become rollbacks, shifts, throttles, retrains and
notifications; every action is recorded with the alert that caused it."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from modelyard.core.governance import ApprovalPolicy, GovernanceConfig
from modelyard.core.monitor_config import PlaybookConfig, SinkConfig
from modelyard.core.webhooks import WebhooksConfig
from modelyard.orchestration.operations import champion
from modelyard.orchestration.playbooks import Playbooks, run_synthetic
from modelyard.orchestration.triggers import check_triggers
from modelyard.registry.registry import Registry
from modelyard.store.alerts import AlertStore
from modelyard.store.playbooks import PlaybookStore
from modelyard.store.rollouts import RUNNING, RolloutStore
from tests.support.cli import run_main

PROJECT = """\
identity: os
name: playbooks-test
models:
  arrests:
    task: classification
    train: modelyard.demo.training:fit
    gates:
      dataset: arrests-eval@1
      positive_label: "Yes"
      metrics:
        thresholds: {roc_auc: {min: 0.6}}
    rollout: {steps: [0.25, 0.5, 1.0], interval_s: 60}
datasets:
  arrests-train: {target: released, protected: [colour, sex, age]}
  arrests-eval: {target: released, protected: [colour, sex, age]}
governance:
  approvals: {required: 0, four_eyes: false}
monitoring:
  sinks: [{kind: log}]
playbooks:
  rollback-on-drift:
    when: {rules: [drift-critical]}
    endpoints: [arrests, arrests-staging]
    actions: [{do: rollback}, {do: notify}]
    cooldown_s: 600
  retrain-on-drift:
    when: {rules: [slow-drift]}
    actions: [{do: retrain}]
  shift-to-unapproved:
    when: {rules: [errors]}
    actions: [{do: shift, to: arrests@3}, {do: rollback}]
  emergency-brake:
    when: {min_tier: emergency}
    actions: [{do: throttle, rate_per_s: 5, max_concurrency: 2}]
"""


@dataclass(frozen=True)
class Fitted:
    train: Any
    eval: Any
    models: tuple[Any, ...]  # arrests@1, @2, @3 (logistic C=1.0, 0.5, 0.1)


FEATURES_ROW = {
    "colour": "White",
    "year": 2002,
    "age": 21,
    "sex": "Male",
    "employed": "Yes",
    "citizen": "Yes",
    "checks": 3,
}


@pytest.fixture(scope="module")
def fitted() -> Fitted:
    return fit_models()


def fit_models() -> Fitted:
    """The arrests data split and the three models (fitted once per module)."""
    from sklearn.model_selection import train_test_split

    from modelyard.demo.data import arrests
    from modelyard.demo.training import fit
    from modelyard.gates.retrain import TrainingInputs

    df = arrests()
    tr, ev = train_test_split(df, test_size=0.3, random_state=0, stratify=df["released"])
    tr, ev = tr.reset_index(drop=True), ev.reset_index(drop=True)
    models = tuple(fit(TrainingInputs({"train": tr}, {}, {"C": c}, 0)) for c in (1.0, 0.5, 0.1))
    return Fitted(tr, ev, models)


def make_project(root: Path, env: dict[str, str], fitted: Fitted) -> Registry:
    """arrests@1 and @2 (logged by training runs on arrests-train@1) approved and deployed in
    turn on ``arrests`` and ``arrests-staging`` (champion @2, last known good @1); arrests@3
    registered but never gated (proposed)."""
    from modelyard.demo.training import FEATURES

    root.mkdir(parents=True, exist_ok=True)
    (root / "modelyard.yaml").write_text(PROJECT, encoding="utf-8")
    reg = Registry.init(root, env=env, identity="os")
    reg.add_dataset(fitted.train, "arrests-train", "arrests train")
    reg.add_dataset(fitted.eval, "arrests-eval", "arrests eval")
    sample = fitted.train[FEATURES].head(20)
    for model, c in zip(fitted.models[:2], (1.0, 0.5), strict=True):
        with reg.start_run(model="arrests", params={"C": c}, seed=0) as run:
            run.use_dataset("arrests-train@1", role="train")
            run.log_model(model, sample_input=sample)
    reg.register_model(fitted.models[2], "arrests", sample)
    for ref in ("arrests@1", "arrests@2"):
        reg.transition(ref, "validated", reason="gates passed")
        reg.transition(ref, "approved", reason="reviewed")
        for endpoint in ("arrests", "arrests-staging"):
            reg.deploy(ref, endpoint, reason="release")
    return reg


@pytest.fixture
def reg(project_dir: Path, store_url: str, fitted: Fitted) -> Iterator[Registry]:
    """On SQLite and PostgreSQL."""
    env = {"MODELYARD_STORE_URL": store_url, "MODELYARD_USER": "alice"}
    r = make_project(project_dir, env, fitted)
    yield r
    r.close()


@pytest.fixture
def local(project_dir: Path, fitted: Fitted) -> Iterator[Registry]:
    """On the zero-service default (SQLite in the project folder)."""
    r = make_project(project_dir, {"MODELYARD_USER": "alice"}, fitted)
    yield r
    r.close()


def fire(
    reg: Registry, rule: str, tier: str = "critical", endpoint: str = "arrests"
) -> dict[str, Any]:
    """A real alerts row (as the monitor writes it) and its ``fired`` event."""
    with reg.store.tx() as conn:
        aid = AlertStore.open_alert(conn, endpoint, rule, tier, 0.4, f"{rule} breached", {})
    return {
        "alert_id": int(aid),
        "event": "fired",
        "endpoint": endpoint,
        "rule": rule,
        "tier": tier,
        "value": 0.4,
        "threshold": 0.2,
        "message": f"{rule} breached",
    }


def plan_of(reg: Registry, endpoint: str = "arrests") -> list[tuple[str, str, float]]:
    return [
        (f"{r.model_name}@{r.version}", r.role, r.weight) for r in reg.store.routes.all(endpoint)
    ]


# ---- rollback, audit, cooldown, dry run -----------------------------------------------------
def test_a_fired_critical_drift_alert_rolls_the_endpoint_back_with_the_alert_on_record(
    reg: Registry,
) -> None:
    event = fire(reg, "drift-critical")
    records = Playbooks(reg).handle([event])

    assert [(r.action, r.status) for r in records] == [("rollback", "done"), ("notify", "done")]
    champ = champion(reg, "arrests")
    assert champ is not None and champ.ref == "arrests@1"
    assert plan_of(reg, "arrests-staging") == [("arrests@2", "production", 1.0)]
    assert records[0].details["from"] == "arrests@2" and records[0].details["to"] == "arrests@1"
    assert all(r.alert_id == event["alert_id"] for r in records)

    audit = reg.store.chain.entries(target_prefix="endpoint:arrests", action="playbook.rollback")
    assert [(e.actor, e.data["alert"], e.data["status"]) for e in audit] == [
        ("playbook", event["alert_id"], "done")
    ]
    assert f"alert #{event['alert_id']}" in audit[0].reason
    route = reg.store.chain.entries(target_prefix="endpoint:arrests", action="endpoint.route")[-1]
    assert route.actor == "playbook" and "drift-critical" in route.reason
    rows = PlaybookStore(reg.store).history(endpoint="arrests")
    assert {(r.alert_id, r.status) for r in rows} == {(event["alert_id"], "done")}


def test_events_that_do_not_match_run_nothing(local: Registry) -> None:
    reg = local
    books = Playbooks(reg)
    resolved = {**fire(reg, "drift-critical"), "event": "resolved"}
    other_rule = fire(reg, "latency")
    other_endpoint = fire(reg, "drift-critical", endpoint="elsewhere")
    assert books.handle([resolved, other_rule, other_endpoint]) == []
    assert plan_of(reg)[0][0] == "arrests@2"


def test_cooldown_suppresses_a_second_run_on_the_same_endpoint(reg: Registry) -> None:
    books = Playbooks(reg)
    books.handle([fire(reg, "drift-critical")])
    second = fire(reg, "drift-critical")
    records = books.handle([second])

    assert [(r.action, r.status) for r in records] == [("rollback", "skipped")]
    assert "cooldown" in records[0].details["reason"]
    assert records[0].alert_id == second["alert_id"]
    champ = champion(reg, "arrests")
    assert champ is not None and champ.ref == "arrests@1", "no flapping back to @2"
    # another endpoint has its own cooldown
    staging = books.handle([fire(reg, "drift-critical", endpoint="arrests-staging")])
    assert [r.status for r in staging] == ["done", "done"]
    # and once the quiet time is over the playbook runs again
    later = Playbooks(reg, clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=601))
    again = later.handle([fire(reg, "drift-critical")])
    assert [r.status for r in again] == ["done", "done"]


def test_a_run_already_in_progress_elsewhere_is_not_started_twice(local: Registry) -> None:
    from modelyard.orchestration.playbooks.runner import lease_name

    reg = local
    leases = RolloutStore(reg.store)
    assert leases.acquire(lease_name("rollback-on-drift", "arrests"), "replica-2", 60)
    records = Playbooks(reg).handle([fire(reg, "drift-critical")])
    assert [(r.action, r.status) for r in records] == [("rollback", "skipped")]
    assert "replica-2" in records[0].details["reason"]
    assert plan_of(reg)[0][0] == "arrests@2"
    leases.release(lease_name("rollback-on-drift", "arrests"), "replica-2")
    assert [r.status for r in Playbooks(reg).handle([fire(reg, "drift-critical")])] == [
        "done",
        "done",
    ]


def test_dry_run_records_the_concrete_plan_and_changes_nothing(reg: Registry) -> None:
    before_plan = plan_of(reg)
    before_audit = len(reg.store.chain.entries(action="endpoint.route"))
    event = fire(reg, "drift-critical")
    records = Playbooks(reg).handle([event], dry_run=True)

    assert [(r.action, r.status, r.dry_run) for r in records] == [
        ("rollback", "dry-run", True),
        ("notify", "dry-run", True),
    ]
    assert records[0].details["plan"] == {"from": "arrests@2", "to": "arrests@1"}
    assert records[1].details["plan"] == {"targets": [{"kind": "log", "url": None}]}
    assert plan_of(reg) == before_plan
    assert len(reg.store.chain.entries(action="endpoint.route")) == before_audit
    # a dry run does not start a cooldown: the real run that follows acts
    real = Playbooks(reg).handle([fire(reg, "drift-critical")])
    assert [r.status for r in real] == ["done", "done"]


def test_a_playbook_marked_dry_run_only_plans(local: Registry) -> None:
    reg = local
    cfg = PlaybookConfig.model_validate(
        {"when": {"min_tier": "critical"}, "actions": [{"do": "rollback"}], "dry_run": True}
    )
    records = Playbooks(reg, playbooks={"cautious": cfg}).handle([fire(reg, "anything")])
    assert [(r.status, r.details["plan"]["to"]) for r in records] == [("dry-run", "arrests@1")]
    assert plan_of(reg)[0][0] == "arrests@2"


def test_min_tier_matches_alerts_at_or_above_it(local: Registry) -> None:
    reg = local
    cfg = PlaybookConfig.model_validate(
        {"when": {"min_tier": "critical"}, "actions": [{"do": "rollback"}], "dry_run": True}
    )
    books = Playbooks(reg, playbooks={"p": cfg})
    assert books.handle([fire(reg, "x", tier="warning")]) == []
    assert len(books.handle([fire(reg, "x", tier="emergency")])) == 1


# ---- shift --------------------------------------------------------------------------------
def test_shift_to_a_version_that_is_not_approved_fails_and_stops_the_playbook(
    reg: Registry,
) -> None:
    event = fire(reg, "errors")
    records = Playbooks(reg).handle([event])

    assert [(r.action, r.status) for r in records] == [("shift", "failed"), ("rollback", "skipped")]
    assert "arrests@3" in records[0].details["error"]
    assert "proposed" in records[0].details["error"]
    assert records[1].details["reason"] == "an earlier action failed"
    assert plan_of(reg) == [("arrests@2", "production", 1.0)]
    failed = reg.store.chain.entries(action="playbook.shift")
    assert [(e.data["status"], e.data["alert"]) for e in failed] == [("failed", event["alert_id"])]


def test_shift_to_an_approved_version_takes_all_traffic_and_ends_canaries(local: Registry) -> None:
    reg = local
    from modelyard.orchestration.canary import start

    reg.deploy("arrests@1", "arrests", reason="first")  # champion @1, @2 approved again
    rid = start(reg, "arrests@2", "arrests")
    cfg = PlaybookConfig.model_validate(
        {"when": {"rules": ["errors"]}, "actions": [{"do": "shift", "to": "arrests@2"}]}
    )
    records = Playbooks(reg, playbooks={"fallback": cfg}).handle([fire(reg, "errors")])
    assert [(r.status, r.details["from"], r.details["to"]) for r in records] == [
        ("done", "arrests@1", "arrests@2")
    ]
    assert plan_of(reg) == [("arrests@2", "production", 1.0)]
    assert RolloutStore(reg.store).get(rid).status == "rolled_back"


def test_shift_approves_a_validated_version_when_governance_needs_no_approval(
    local: Registry,
) -> None:
    reg = local
    reg.transition("arrests@3", "validated", reason="gates passed")
    cfg = PlaybookConfig.model_validate(
        {"when": {"rules": ["errors"]}, "actions": [{"do": "shift", "to": "arrests@3"}]}
    )
    records = Playbooks(reg, playbooks={"fallback": cfg}).handle([fire(reg, "errors")])
    assert [r.status for r in records] == ["done"]
    assert plan_of(reg) == [("arrests@3", "production", 1.0)]


# ---- throttle -----------------------------------------------------------------------------
def test_an_emergency_alert_throttles_the_endpoint_through_its_overrides(local: Registry) -> None:
    reg = local
    generation = reg.store.routes.generation("arrests")
    records = Playbooks(reg).handle([fire(reg, "anything", tier="emergency")])

    assert [(r.action, r.status) for r in records] == [("throttle", "done")], records
    overrides = reg.store.routes.overrides("arrests")
    assert overrides is not None and overrides["throttle"] == {
        "rate_per_s": 5.0,
        "max_concurrency": 2,
    }
    assert reg.store.routes.generation("arrests") > generation


# ---- retrain ------------------------------------------------------------------------------
def _new_training_data(reg: Registry, fitted: Fitted) -> str:
    tr = fitted.train
    return reg.add_dataset(tr.sample(frac=0.9, random_state=1), "arrests-train", "fresh").ref


def test_retrain_trains_on_the_newest_data_gates_and_starts_a_canary(
    reg: Registry, fitted: Fitted
) -> None:
    fresh = _new_training_data(reg, fitted)
    event = fire(reg, "slow-drift", tier="warning")
    records = Playbooks(reg).handle([event])

    assert [(r.action, r.status) for r in records] == [("retrain", "done")], records
    d = records[0].details
    assert d["candidate"] == "arrests@4" and d["plan"]["source"] == "arrests@2"
    assert d["plan"]["datasets"] == {"train": fresh}
    assert d["plan"]["trained_on"] == {"train": "arrests-train@1"}
    candidate = reg.model_version("arrests@4")
    assert candidate.state == "deployed" and candidate.run_id == d["run"]
    inputs = reg.store.runs.inputs(str(candidate.run_id))
    assert [(i.dataset.name, i.dataset.version, i.role) for i in inputs] == [
        ("arrests-train", 2, "train")
    ]
    assert [r.kind for r in reg.store.reports.of(candidate.id)] == ["gate"]
    rollouts = RolloutStore(reg.store).list("arrests", RUNNING)
    assert [(r.id, r.candidate_id) for r in rollouts] == [(d["rollout"], candidate.id)]
    assert ("arrests@4", "canary", 0.25) in plan_of(reg), "a canary, never straight to 100 %"


def test_retrain_waits_for_approval_when_governance_requires_it(
    local: Registry, fitted: Fitted
) -> None:
    reg = local
    reg.config = reg.config.model_copy(
        update={"governance": GovernanceConfig(approvals=ApprovalPolicy(required=1))}
    )
    _new_training_data(reg, fitted)
    records = Playbooks(reg).handle([fire(reg, "slow-drift", tier="warning")])

    assert [r.status for r in records] == ["done"]
    assert "awaiting approval" in records[0].details["outcome"]
    assert reg.model_version("arrests@4").state == "validated"
    assert RolloutStore(reg.store).list("arrests") == []
    assert plan_of(reg) == [("arrests@2", "production", 1.0)]


def test_a_retrained_candidate_that_fails_the_gates_is_rejected_and_recorded_as_failed(
    local: Registry,
) -> None:
    reg = local
    from modelyard.core.project import ModelConfig

    strict = ModelConfig.model_validate(
        {
            "task": "classification",
            "train": "modelyard.demo.training:fit",
            "gates": {
                "dataset": "arrests-eval@1",
                "positive_label": "Yes",
                "metrics": {"thresholds": {"roc_auc": {"min": 0.99}}},
            },
        }
    )
    models = {"arrests": strict}
    reg.config = reg.config.model_copy(update={"models": models})
    records = Playbooks(reg).handle([fire(reg, "slow-drift", tier="warning")])

    assert [r.status for r in records] == ["failed"]
    assert "failed the gates" in records[0].details["error"]
    assert records[0].details["failed_checks"] == ["metrics"]
    assert reg.model_version("arrests@4").state == "rejected"
    assert RolloutStore(reg.store).list("arrests") == []


# ---- continuous training ------------------------------------------------------------------
def test_new_training_data_triggers_one_retrain_per_dataset_version(
    reg: Registry, fitted: Fitted
) -> None:
    cfg = PlaybookConfig.model_validate(
        {"when": {"new_data": True}, "endpoints": ["arrests"], "actions": [{"do": "retrain"}]}
    )
    reg.config = reg.config.model_copy(update={"playbooks": {"continuous": cfg}})
    assert check_triggers(reg) == [], "the champion was trained on the newest data"

    fresh = _new_training_data(reg, fitted)
    records = check_triggers(reg)
    assert [(r.playbook, r.action, r.status, r.alert_id) for r in records] == [
        ("continuous", "retrain", "done", None)
    ]
    assert records[0].details["trigger"]["datasets"] == {"arrests-train": 2}
    assert records[0].details["plan"]["datasets"] == {"train": fresh}
    assert RolloutStore(reg.store).list("arrests", RUNNING)
    assert check_triggers(reg) == [], "the same data version is not retrained twice"


def test_a_scheduled_trigger_runs_every_interval(local: Registry) -> None:
    reg = local
    cfg = PlaybookConfig.model_validate(
        {
            "when": {"every_s": 3600},
            "endpoints": ["arrests"],
            "actions": [{"do": "retrain"}],
            "dry_run": True,
            "cooldown_s": 0,
        }
    )
    reg.config = reg.config.model_copy(update={"playbooks": {"nightly": cfg}})
    first = check_triggers(reg)
    assert [(r.status, r.details["trigger"]["kind"]) for r in first] == [("dry-run", "schedule")]
    assert check_triggers(reg) == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3601)
    assert len(check_triggers(reg, clock=lambda: later)) == 1
    assert reg.model_versions("arrests")[-1].ref == "arrests@3", "a dry run trains nothing"


# ---- notify -------------------------------------------------------------------------------
class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    arrived: list[float] = []  # time.monotonic() of each request
    status = 200
    fail_first = 0  # answer 503 to this many requests first

    def do_POST(self) -> None:
        hook = type(self)
        hook.arrived.append(time.monotonic())
        body = self.rfile.read(int(self.headers["content-length"]))
        hook.received.append(json.loads(body))
        self.send_response(503 if len(hook.received) <= hook.fail_first else hook.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Hook]]]:
    hook = type("Hook", (_Hook,), {"received": [], "arrived": [], "status": 200, "fail_first": 0})
    server = HTTPServer(("127.0.0.1", 0), hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", hook
    server.shutdown()
    server.server_close()


def test_notify_posts_the_alert_and_playbook_to_a_webhook(
    local: Registry, webhook: tuple[str, type[_Hook]]
) -> None:
    reg = local
    url, hook = webhook
    # the receiver listens on 127.0.0.1, an internal address: the project opts in explicitly
    reg.config = reg.config.model_copy(update={"webhooks": WebhooksConfig(allow=("127.0.0.1",))})
    cfg = PlaybookConfig.model_validate(
        {
            "when": {"rules": ["errors"]},
            "actions": [{"do": "rollback"}, {"do": "notify", "sink": url}],
        }
    )
    event = fire(reg, "errors")
    records = Playbooks(reg, playbooks={"page": cfg}).handle([event])
    assert [r.status for r in records] == ["done", "done"]
    assert [(b["playbook"], b["endpoint"], b["alert"]["alert_id"]) for b in hook.received] == [
        ("page", "arrests", event["alert_id"])
    ]
    assert hook.received[0]["actions"] == [
        {"action": "rollback", "status": "done", "outcome": "→ arrests@1"}
    ]
    hook.status = 500
    refused = Playbooks(reg, playbooks={"page": cfg}).run(
        "page", fire(reg, "errors"), ignore_cooldown=True
    )
    assert [r.status for r in refused] == ["done", "failed"]
    assert "HTTP 500" in refused[1].details["error"]
    assert len(hook.received) == 1 + 1 + 3, "one attempt and the sink default of three retries"


def test_notify_retries_a_failing_webhook_with_exponential_backoff(
    local: Registry, webhook: tuple[str, type[_Hook]]
) -> None:
    """The notify action delivers as an alert sink does: the sink's retries, with waits of
    0.5 s, 1 s, … between the attempts; a webhook that recovers in time is notified."""
    reg = local
    url, hook = webhook
    hook.fail_first = 2
    sink = SinkConfig(kind="webhook", url=url, retries=2, timeout_s=5.0)
    reg.config = reg.config.model_copy(
        update={
            "webhooks": WebhooksConfig(allow=("127.0.0.1",)),
            "monitoring": reg.config.monitoring.model_copy(update={"sinks": (sink,)}),
        }
    )
    cfg = PlaybookConfig.model_validate(
        {"when": {"rules": ["errors"]}, "actions": [{"do": "notify"}]}
    )
    [record] = Playbooks(reg, playbooks={"page": cfg}).handle([fire(reg, "errors")])
    assert record.status == "done", record.details
    assert len(hook.received) == 3, "two 503s, then accepted on the second retry"
    first, second = (b - a for a, b in itertools.pairwise(hook.arrived))
    assert first >= 0.5 and second >= 1.0, (first, second)  # backoff: base, then twice the base

    hook.fail_first = 10**6  # it never recovers: 1 + 2 attempts, then the action fails
    hook.received.clear()
    [failed] = Playbooks(reg, playbooks={"page": cfg}).run(
        "page", fire(reg, "errors"), ignore_cooldown=True
    )
    assert failed.status == "failed"
    assert "after 3 attempt(s): HTTP 503" in failed.details["error"]
    assert len(hook.received) == 3
    assert url not in json.dumps(failed.details), "the record shows the URL redacted only"


# ---- rehearsal and manual runs --------------------------------------------------------------
def test_a_rehearsal_on_staging_runs_for_real_and_resolves_its_synthetic_alert(
    reg: Registry,
) -> None:
    alert_id, records = run_synthetic(
        reg, "rollback-on-drift", "arrests-staging", actor="alice", rehearsal=True
    )
    assert [(r.action, r.status) for r in records] == [("rollback", "done"), ("notify", "done")]
    assert plan_of(reg, "arrests-staging") == [("arrests@1", "production", 1.0)]
    assert plan_of(reg, "arrests") == [("arrests@2", "production", 1.0)], "production untouched"
    alert = AlertStore(reg.store).get(alert_id)
    assert alert.state == "resolved" and alert.details["synthetic"] is True
    assert alert.details["kind"] == "rehearsal"
    assert all(r.alert_id == alert_id for r in records)


def test_a_rehearsal_refuses_an_endpoint_the_playbook_does_not_name(local: Registry) -> None:
    reg = local
    from modelyard.core.errors import InvalidInput, NotFound

    with pytest.raises(InvalidInput, match="does not name endpoint 'arrests-staging'"):
        run_synthetic(reg, "retrain-on-drift", "arrests-staging", actor="a", rehearsal=True)
    with pytest.raises(NotFound, match="no endpoint 'arrests-stagin'; did you mean"):
        run_synthetic(reg, "rollback-on-drift", "arrests-stagin", actor="a", rehearsal=True)
    with pytest.raises(NotFound, match="no playbook 'rollback-on-drfit'; did you mean"):
        run_synthetic(reg, "rollback-on-drfit", "arrests", actor="a")
    assert PlaybookStore(reg.store).history() == []


# ---- the CLI ------------------------------------------------------------------------------
MODELYARD = str(Path(sys.executable).with_name("modelyard"))


@pytest.fixture(scope="module")
def cli_project(tmp_path_factory: pytest.TempPathFactory, fitted: Fitted) -> Path:
    root = tmp_path_factory.mktemp("cli") / "p"
    make_project(root, {"MODELYARD_USER": "alice"}, fitted).close()
    return root


def cli(
    project: Path, *args: str, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """The console-script entry point in-process (exit code, stdout, stderr)."""
    ran = run_main(
        capsys, monkeypatch, "playbook", *args, "-p", str(project), env={"MODELYARD_USER": "carol"}
    )
    return ran.returncode, ran.stdout, ran.stderr


def test_cli_rehearse_prints_each_outcome_and_history_shows_it(
    cli_project: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "MODELYARD_USER": "carol", "COLUMNS": "200"}
    env.pop("MODELYARD_SERVER", None)
    out = subprocess.run(
        [MODELYARD, "playbook", "rehearse", "rollback-on-drift", "-e", "arrests-staging"],
        cwd=cli_project,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "rollback" in out.stdout and "done" in out.stdout and "arrests@1" in out.stdout
    code, stdout, _ = cli(
        cli_project,
        "history",
        "--endpoint",
        "arrests-staging",
        "--json",
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    rows = json.loads(stdout)
    assert [(r["action"], r["status"]) for r in rows] == [("notify", "done"), ("rollback", "done")]
    assert rows[0]["alert_id"] == rows[1]["alert_id"] is not None
    code, stdout, _ = cli(cli_project, "list", "--json", capsys=capsys, monkeypatch=monkeypatch)
    by_name = {p["name"]: p for p in json.loads(stdout)}
    assert set(by_name) == {
        "rollback-on-drift",
        "retrain-on-drift",
        "shift-to-unapproved",
        "emergency-brake",
    }
    assert by_name["rollback-on-drift"]["last_run"]["endpoint"] == "arrests-staging"
    assert by_name["rollback-on-drift"]["when"] == {"rules": ["drift-critical"], "new_data": False}
    assert by_name["retrain-on-drift"]["last_run"] is None
    code, stdout, _ = cli(cli_project, "list", capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and "Playbooks" in stdout and "last run" in stdout


def test_cli_run_dry_run_plans_without_changing_the_endpoint(
    cli_project: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stdout, err = cli(
        cli_project,
        "run",
        "rollback-on-drift",
        "--endpoint",
        "arrests",
        "--dry-run",
        "--json",
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert code == 0, err
    doc = json.loads(stdout)
    assert [a["status"] for a in doc["actions"]] == ["dry-run", "dry-run"]
    assert doc["actions"][0]["details"]["plan"]["to"] == "arrests@1"
    with Registry.open(cli_project, env={"MODELYARD_USER": "x"}) as reg:
        assert plan_of(reg) == [("arrests@2", "production", 1.0)]
        assert AlertStore(reg.store).get(doc["alert_id"]).state == "resolved"


def test_cli_a_failing_action_exits_non_zero(
    cli_project: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stdout, _ = cli(
        cli_project,
        "run",
        "shift-to-unapproved",
        "--endpoint",
        "arrests",
        "--json",
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert code == 1
    assert [a["status"] for a in json.loads(stdout)["actions"]] == ["failed", "skipped"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "nope", "--endpoint", "arrests"], 1, "no playbook 'nope'"),
        (["run", "rollback-on-drift", "--endpoint", "nowhere"], 1, "no endpoint 'nowhere'"),
        (["rehearse", "retrain-on-drift", "--endpoint", "arrests"], 2, "does not name endpoint"),
        (["run", "rollback-on-drift"], 2, "--endpoint"),
    ],
)
def test_cli_bad_input_gives_a_clear_error_and_a_non_zero_exit(
    cli_project: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    code: int,
    message: str,
) -> None:
    got, stdout, err = cli(cli_project, *args, capsys=capsys, monkeypatch=monkeypatch)
    assert got == code, stdout + err
    assert message in err
    assert "Traceback" not in err
