"""The retrain path: the champion's run replayed on newer data, then gates and a canary.

``plan_retrain`` says what a retrain would do (which version's run is replayed on which dataset
versions), ``train_candidate`` trains it inside a recorded run (full lineage), and
``retrain_and_release`` takes the candidate through the gates, the approval governance asks for,
and a canary with the model's rollout policy — never straight to 100 %. The playbooks'
``retrain`` action calls it; the triggers of continuous training run that action.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from modelyard.core.errors import ConfigError, Conflict
from modelyard.core.lifecycle import State
from modelyard.orchestration.operations import champion
from modelyard.registry import queries
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.rollouts import RUNNING, RolloutStore


class GatesFailed(Conflict):
    """A retrained candidate did not pass its release gates (it is rejected)."""

    code = "gates_failed"


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
    run = queries.run(reg, src.run_id)
    trained_on: dict[str, str] = {}
    datasets: dict[str, str] = {}
    for row in queries.run_inputs(reg, src.run_id):
        ds = row.dataset
        key = row.role if row.role not in trained_on else f"{row.role}:{ds.name}"
        trained_on[key] = ds.ref
        datasets[key] = f"{ds.name}@{queries.dataset(reg, ds.name).version}"
    if dataset:
        name, _, version = dataset.partition("@")
        named = queries.dataset(reg, name, int(version) if version.isdigit() else None)
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
            f"endpoint {endpoint!r} already has rollout #{busy[0].id} running; "
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
