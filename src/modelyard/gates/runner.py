"""Run a model version's gate policy: build the context, run each check, store the report,
move the version to validated or rejected.

``run_checks`` works on a ready :class:`GateContext` (tests, notebooks, benchmarks);
``run_gate`` does the whole registry round trip that ``modelyard gate`` performs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from modelyard.core.errors import ConfigError, InvalidInput, ModelyardError
from modelyard.core.gate_policy import GatePolicy
from modelyard.core.input_policy import effective
from modelyard.core.lifecycle import State
from modelyard.gates import plugins
from modelyard.gates.base import CheckResult
from modelyard.gates.champion import find_champion
from modelyard.gates.context import GateContext, Side
from modelyard.gates.report import GateReport, render_html, to_json
from modelyard.registry.registry import ModelVersion, Registry

# called with a check's name before it runs, and with its result after
Progress = Callable[[str | CheckResult], None]


def run_one(name: str, options: Any, ctx: GateContext) -> CheckResult:
    check = plugins.build(name, options)
    started = time.perf_counter()
    try:
        result = check.run(ctx)
    except ModelyardError:
        raise  # configuration problems stop the gate: exit 2, nothing stored
    except Exception as exc:  # a broken check must not hide the others
        result = CheckResult(
            name=name, status="error", message=f"the check raised {type(exc).__name__}: {exc}"
        )
    result.duration_s = time.perf_counter() - started
    return result


@contextlib.contextmanager
def limit_threads(threads: int | None) -> Iterator[None]:
    """Cap BLAS/OpenMP pools while checks run.

    Gate figures include CPU time per prediction; with a pool per library the process's CPU
    time also counts spin-waiting threads, which varies with the machine's load (on a busy
    2-core runner an OpenMP model predicted 10x slower). One thread keeps timings comparable
    between the candidate and the champion, and between runs.
    """
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield


def run_checks(
    ctx: GateContext, names: list[str] | None = None, progress: Progress | None = None
) -> list[CheckResult]:
    names = ctx.policy.enabled() if names is None else names
    results = []
    with limit_threads(ctx.policy.threads):
        for name in names:
            if progress:
                progress(name)
            results.append(run_one(name, ctx.policy.section(name), ctx))
            if progress:
                progress(results[-1])
    return results


def outcome_of(results: list[CheckResult]) -> str:
    """``failed`` when a check judged the model and found it wanting; ``errored`` when checks
    only raised (the gate reached no verdict); otherwise ``passed``."""
    if any(r.status == "fail" for r in results):
        return "failed"
    if any(r.status == "error" for r in results):
        return "errored"
    return "passed"


def _target_state(outcome: str, state: str) -> State | None:
    """The lifecycle move a verdict makes. An errored gate is no verdict: nothing moves."""
    if outcome == "passed" and state == State.PROPOSED.value:
        return State.VALIDATED
    if outcome == "failed" and state in (State.PROPOSED.value, State.VALIDATED.value):
        return State.REJECTED
    return None


def build_context(reg: Registry, mv: ModelVersion, policy: GatePolicy) -> tuple[GateContext, Any]:
    from modelyard.gates.retrain import build_retrainer

    name = mv.model_name
    if not policy.dataset:
        raise ConfigError(
            f"models.{name}.gates.dataset is not set: the gates need an evaluation dataset",
            hint=f"add `gates: {{dataset: NAME@VERSION, metrics: …}}` under models.{name} "
            "in modelyard.yaml",
        )
    ds = reg.dataset(policy.dataset)
    target = ds.schema.get("target")
    if not target:
        raise ConfigError(
            f"dataset {ds.ref} has no target column, so {mv.ref} cannot be judged on it",
            hint=f"tag it: modelyard data tag {ds.ref} --target COLUMN (or set "
            f"datasets.{ds.name}.target in modelyard.yaml and run "
            f"modelyard data tag {ds.ref} --from-project)",
        )
    frame = reg.load_dataset(ds)
    champion = find_champion(reg, mv, policy)
    champ_side = None
    if champion is not None:
        c = champion.version
        champ_side = Side("champion", reg.load_model(c), c.ref, c.size_bytes, c.signature or None)
    mc = reg.config.model(name)

    def put(data: bytes, kind: str) -> str:
        res = reg.artifacts.put(data)
        with reg.store.tx() as conn:
            reg.store.artifacts.record(conn, res.digest, res.size, kind)
        return res.digest

    ctx = GateContext(
        frame=frame,
        target=target,
        candidate=Side("candidate", reg.load_model(mv), mv.ref, mv.size_bytes),
        policy=policy,
        champion=champ_side,
        task=mc.task or mv.signature.get("task", ""),
        dataset_schema=ds.schema,
        signature=mv.signature or None,
        input_policy=effective(mv.signature, mc.inputs),
        project_dir=reg.settings.project_dir,
        sla_p99_ms=mc.sla.latency_p99_ms,
        put_artifact=put,
        retrain=build_retrainer(reg, mv, mc.train) if mc.train and mv.run_id else None,
        artifact_digest=mv.artifact_digest,
        load_target={
            "project": str(reg.settings.project_dir),
            "store_url": reg.settings.store_url,
            "artifacts": reg.settings.artifact_url,
            "model": mv.model_name,
            "version": mv.version,
            "flavor": mv.flavor,
            "champion_digest": champion.version.artifact_digest if champion else None,
        },
    )
    return ctx, (ds, champion)


def run_gate(
    reg: Registry,
    ref: str,
    *,
    policy: GatePolicy | None = None,
    only: list[str] | None = None,
    transition: bool = True,
    progress: Progress | None = None,
    reconsider: str | None = None,
) -> tuple[GateReport, int]:
    """Gate ``ref``; return the report and the id of its row in the reports table.

    ``reconsider`` (a reason) first moves a rejected version back to proposed (audited), so a
    fixed policy or evaluation set can validate it; without it a rejected version stays
    rejected whatever the verdict."""
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    mv = reg.model_version(ref)
    if reconsider is not None:
        if mv.state != State.REJECTED.value:
            raise InvalidInput(
                f"{mv.ref} is {mv.state}, not rejected: --reconsider applies to rejected "
                "versions only"
            )
        if not reconsider.strip():
            raise InvalidInput("--reconsider needs a reason (--reason TEXT), kept in the audit log")
        reg.transition(mv, State.PROPOSED, reason=f"reconsidered: {reconsider.strip()}")
        mv = reg.model_version(ref)
    policy = policy or reg.config.model(mv.model_name).gates
    names = policy.enabled()
    if only:
        for n in only:
            if n not in names:
                plugins.factory(n)  # unknown names: "did you mean"
                raise ConfigError(
                    f"check {n!r} is not configured for {mv.model_name}",
                    hint=f"configured: {', '.join(names) or 'none'}",
                )
        names = [n for n in names if n in only]
    if not names:
        raise ConfigError(
            f"models.{mv.model_name}.gates declares no checks",
            hint="add sections such as metrics, segments, fairness, calibration (docs/gates.md)",
        )
    ctx, (ds, champion) = build_context(reg, mv, policy)
    results = run_checks(ctx, names, progress)
    outcome = outcome_of(results)
    passed = outcome == "passed"
    target = _target_state(outcome, mv.state) if transition else None
    report = GateReport(
        model=mv.ref,
        model_version_id=mv.id,
        artifact_digest=mv.artifact_digest,
        dataset=ds.ref,
        dataset_digest=ds.digest,
        rows=len(ctx.frame),
        champion=champion.version.ref if champion else None,
        champion_rule=champion.rule if champion else None,
        passed=passed,
        outcome=outcome,
        status_counts=dict(Counter(r.status for r in results)),
        failed_checks=[r.name for r in results if r.failed],
        checks=results,
        policy=policy.model_dump(mode="json", exclude_none=True),
        started_at=started_at.isoformat(),
        duration_s=time.perf_counter() - started,
        created_by=reg.settings.user,
        transition={"from": mv.state, "to": target.value} if target else None,
    )
    blob = to_json(report)
    html = render_html(report).encode()
    put_json, put_html = reg.artifacts.put(blob), reg.artifacts.put(html)
    report_id = reg.store.reports.add(
        {
            "model_version_id": mv.id,
            "kind": "gate",
            "passed": passed,
            "summary": report.summary(),
            "artifact_digest": put_json.digest,
            "artifact_digest_size": put_json.size,
            "html_digest": put_html.digest,
            "html_digest_size": put_html.size,
            "created_by": reg.settings.user,
        }
    )
    if target is not None:
        reg.transition(mv, target, reason=f"{report.reason()} (gate report #{report_id})")
    return report, report_id
