"""Continuous training: playbooks whose ``when`` is a trigger rather than an alert.

- ``when: {new_data: true}`` runs when a dataset the endpoint's champion was trained on has a
  newer version than the one its run used (each newest set of versions runs once per endpoint);
- ``when: {every_s: 86400}`` runs on a schedule, per endpoint (the first check runs it).

The playbook's actions then run exactly as for an alert — typically ``retrain``, the same
train → gates → (approval) → canary path — with the cooldown honoured and every action recorded
with its trigger. ``check_triggers`` is one pass, for the ``monitor run`` loop.

The retrain path itself (``plan_retrain``, ``train_candidate``, ``retrain_and_release``) lives
here and the playbooks' ``retrain`` action calls it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import ConfigError, Conflict
from modelyard.core.lifecycle import State
from modelyard.orchestration.operations import champion
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.playbooks import PlaybookStore
from modelyard.store.rollouts import RUNNING, RolloutStore

if TYPE_CHECKING:
    from modelyard.orchestration.playbooks import ActionRecord


class GatesFailed(Conflict):
    """A retrained candidate did not pass its release gates (it is rejected)."""

    code = "gates_failed"


# ---- the retrain path -----------------------------------------------------------------------
@dataclass(frozen=True)
class RetrainPlan:
    model: str
    source: str  # the version whose run is replayed (params, seed, inputs)
    datasets: dict[str, str]  # role -> newest dataset ref
    trained_on: dict[str, str]  # role -> dataset ref the source was trained on
    params: dict[str, Any]
    seed: int | None
    then: str  # "canary" | "awaiting approval"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _source_version(reg: Registry, endpoint: str, model: str | None) -> ModelVersion:
    base = champion(reg, endpoint)
    name = model or (base.model_name if base else None)
    if name is None:
        raise Conflict(
            f"endpoint {endpoint!r} has no champion, so there is no model to retrain",
            hint="name the model in the action: {do: retrain, model: NAME}",
        )
    if base is not None and base.model_name == name and base.run_id:
        return base
    for mv in reversed(reg.model_versions(name)):
        if mv.run_id:
            return mv
    raise ConfigError(
        f"no version of {name} was registered by a training run, so there is nothing to replay",
        hint="log the model with run.log_model(...) inside reg.start_run(...)",
    )


def plan_retrain(
    reg: Registry, endpoint: str, model: str | None = None, dataset: str | None = None
) -> RetrainPlan:
    """What a retrain would do: the source version's run replayed on the newest version of
    each of its input datasets (or ``dataset`` as the training input)."""
    src = _source_version(reg, endpoint, model)
    if not reg.config.model(src.model_name).train:
        raise ConfigError(
            f"models.{src.model_name}.train is not set: a retrain needs the training entrypoint",
            hint="add `train: module:function` under models."
            f"{src.model_name} in modelyard.yaml (docs/gates.md, reproducibility)",
        )
    assert src.run_id is not None
    run = reg.store.runs.get(src.run_id)
    trained_on: dict[str, str] = {}
    datasets: dict[str, str] = {}
    for row in reg.store.runs.inputs(src.run_id):
        ds = row.dataset
        key = row.role if row.role not in trained_on else f"{row.role}:{ds.name}"
        trained_on[key] = ds.ref
        datasets[key] = f"{ds.name}@{reg.store.datasets.get(ds.name).version}"
    if dataset:
        name, _, version = dataset.partition("@")
        named = reg.store.datasets.get(name, int(version) if version.isdigit() else None)
        role = "train" if "train" in datasets or not datasets else next(iter(datasets))
        datasets[role] = named.ref
    if not datasets:
        raise ConfigError(
            f"the run of {src.ref} recorded no input datasets, so there is no data to retrain on",
            hint="declare inputs with run.use_dataset(...), or name one: {do: retrain, dataset: X}",
        )
    required = reg.config.governance.approvals.required
    return RetrainPlan(
        model=src.model_name,
        source=src.ref,
        datasets=datasets,
        trained_on=trained_on,
        params=dict(run.params or {}),
        seed=run.seed,
        then="awaiting approval" if required > 0 else "canary",
    )


def train_candidate(reg: Registry, plan: RetrainPlan) -> ModelVersion:
    """Run the model's training entrypoint on the planned datasets inside a recorded run, so
    the candidate has full lineage (code, params, seed, the dataset versions used)."""
    from modelyard.gates.context import load_function
    from modelyard.gates.retrain import TrainingInputs

    spec = str(reg.config.model(plan.model).train)
    fn = load_function(spec, f"models.{plan.model}.train", reg.settings.project_dir)
    src = reg.model_version(plan.source)
    with reg.start_run(model=plan.model, params=plan.params, seed=plan.seed) as run:
        frames, refs = {}, {}
        for key, ref in plan.datasets.items():
            ds = run.use_dataset(ref, role=key.split(":", 1)[0])
            frames[key] = reg.load_dataset(ds)
            refs[key] = ds.ref
        fitted = fn(TrainingInputs(frames, refs, dict(run.params), plan.seed))
        frame = frames.get("train", next(iter(frames.values())))
        cols = [str(c["name"]) for c in (src.signature or {}).get("inputs", [])]
        sample = frame[cols].head(20) if cols and set(cols) <= set(frame.columns) else None
        return run.log_model(fitted, sample_input=sample, trust=src.trusted)


def retrain_and_release(
    reg: Registry, endpoint: str, plan: RetrainPlan, actor: str, reason: str
) -> dict[str, Any]:
    """Train → gates → (approval if governance needs it) → canary with the model's rollout
    policy. Never straight to 100 %: the canary controller promotes step by step."""
    from modelyard.gates.runner import run_gate
    from modelyard.orchestration.canary import start

    busy = RolloutStore(reg.store).list(endpoint, RUNNING)
    if busy:
        raise Conflict(
            f"endpoint {endpoint!r} already has rollout #{busy[0]['id']} running; "
            "a retrained candidate would have no canary slot",
            hint="wait for the rollout to finish, or roll it back",
        )
    policy = reg.config.model(plan.model).rollout
    if plan.then == "canary" and policy.steps[0] >= 1.0:
        raise ConfigError(
            f"models.{plan.model}.rollout.steps starts at 100 %: a retrained candidate must "
            "start as a canary and be promoted step by step by the analysis",
            hint="e.g. rollout: {steps: [0.1, 0.5, 1.0]}",
        )
    if plan.then == "canary" and champion(reg, endpoint) is None:
        raise Conflict(
            f"endpoint {endpoint!r} has no champion to compare a retrained canary with",
            hint="deploy a first version directly (`modelyard deploy MODEL@VERSION --to ...`)",
        )
    mv = train_candidate(reg, plan)
    report, report_id = run_gate(reg, mv.ref)
    out: dict[str, Any] = {"candidate": mv.ref, "run": mv.run_id, "gate_report": report_id}
    if not report.passed:
        raise GatesFailed(
            f"the retrained candidate {mv.ref} failed the gates: {report.reason()}",
            candidate=mv.ref,
            gate_report=report_id,
            failed_checks=list(report.failed_checks),
        )
    required = reg.config.governance.approvals.required
    if required > 0:
        return {
            **out,
            "state": State.VALIDATED.value,
            "approvals_required": required,
            "outcome": f"{mv.ref} passed the gates; awaiting approval ({required} required)",
        }
    reg.transition(
        mv, State.APPROVED, reason=f"{reason}: gates passed, no approval required", actor=actor
    )
    rid = start(reg, mv.ref, endpoint, policy, actor=actor, reason=f"{reason}: retrained")
    return {
        **out,
        "state": State.DEPLOYED.value,
        "rollout": rid,
        "steps": list(policy.steps),
        "outcome": f"{mv.ref} passed the gates; canary rollout #{rid} at {policy.steps[0]:.0%}",
    }


# ---- triggers -------------------------------------------------------------------------------
# statuses of earlier runs that count as "this trigger was handled"
HANDLED = ("done", "failed", "dry-run")


def newer_datasets(reg: Registry, mv: ModelVersion) -> dict[str, dict[str, int]]:
    """Datasets ``mv``'s run used that have a newer version: name → {used, newest}."""
    if not mv.run_id:
        return {}
    out: dict[str, dict[str, int]] = {}
    for row in reg.store.runs.inputs(mv.run_id):
        ds = row.dataset
        newest = int(reg.store.datasets.get(ds.name).version)
        if newest > ds.version:
            out[ds.name] = {"used": ds.version, "newest": newest}
    return out


def _covered(reg: Registry, endpoints: tuple[str, ...]) -> list[str]:
    if endpoints:
        return list(endpoints)
    return sorted({r.endpoint for r in reg.store.routes.all() if r.role == "production"})


def check_triggers(
    reg: Registry,
    *,
    actor: str = "playbook",
    clock: Callable[[], dt.datetime] | None = None,
) -> list[ActionRecord]:
    """Run every trigger playbook that is due; return the recorded actions."""
    from modelyard.orchestration.playbooks import Playbooks

    now = (clock or (lambda: dt.datetime.now(dt.UTC)))()
    books = Playbooks(reg, actor=actor, clock=lambda: now)
    store = PlaybookStore(reg.store)
    records: list[ActionRecord] = []
    for name, cfg in reg.config.playbooks.items():
        when = cfg.when
        if not (when.new_data or when.every_s):
            continue
        for endpoint in _covered(reg, cfg.endpoints):
            base = champion(reg, endpoint)
            if base is None:
                continue
            trigger = _due(reg, store, name, endpoint, base, when.new_data, when.every_s, now)
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
    store: PlaybookStore,
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
                (row["details"].get("trigger") or {}).get("datasets") == key
                for row in store.history(endpoint=endpoint, playbook=name, limit=500)
                if row["status"] in HANDLED
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
        last = store.last(name, endpoint, HANDLED)
        if last is None or (now - last["created_at"]).total_seconds() >= every_s:
            return {
                "kind": "schedule",
                "every_s": every_s,
                "champion": base.ref,
                "message": f"scheduled retrain of {base.ref} (every {every_s:g}s)",
            }
    return None
