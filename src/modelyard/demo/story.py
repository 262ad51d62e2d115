"""`modelyard demo`: the pipeline told on real data (scikit-lego's arrests, MIT).

register data → train a baseline and two candidates with lineage → release gates (the biased
candidate is rejected with its reason) → four-eyes approval → deployment → lineage and catalog.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from modelyard.registry.registry import ModelVersion, Registry

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


def train(reg: Registry, params: dict[str, Any], seed: int = 0) -> ModelVersion:
    """A training script as a user writes it: the run records its lineage by itself."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    from modelyard.demo.training import FEATURES, fit
    from modelyard.gates.retrain import TrainingInputs

    with reg.start_run(model="arrests", params=params, seed=seed) as run:
        ds = run.use_dataset("arrests-train@1", role="train")
        df = reg.load_dataset(ds)
        model = fit(TrainingInputs({"train": df}, {"train": ds.ref}, dict(run.params), seed))
        test = reg.load_dataset("arrests-eval@1")
        y = (test["released"] == "Yes").astype(int)
        run.log_metrics(
            {
                "accuracy": float(accuracy_score(y, model.predict(test[FEATURES]))),
                "roc_auc": float(roc_auc_score(y, model.predict_proba(test[FEATURES])[:, 1])),
            }
        )
        return run.log_model(model, sample_input=df[FEATURES].head(20))


def _as(reg: Registry, user: str) -> Registry:
    return Registry.open(reg.settings.project_dir, env={**os.environ, "MODELYARD_USER": user})


def run_demo(path: Path | None, console: Console, keep_serving: bool = False) -> DemoResult:
    root = Path(path) if path else Path(tempfile.mkdtemp(prefix="modelyard-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    with _logging_to(root / "demo.log"):  # alert and playbook records: a file, not the screen
        return _run_demo(root, console, keep_serving)


def _run_demo(root: Path, console: Console, keep_serving: bool) -> DemoResult:
    from sklearn.model_selection import train_test_split

    from modelyard.cli import render
    from modelyard.cli.lineage_view import print_model_lineage
    from modelyard.demo.data import arrests
    from modelyard.gates.runner import run_gate
    from modelyard.orchestration.operations import deploy
    from modelyard.registry.catalog import catalog
    from modelyard.registry.lineage import model_lineage
    from modelyard.security.access import local_identity
    from modelyard.security.approvals import approve

    started = time.perf_counter()
    (root / "modelyard.yaml").write_text(PROJECT_YAML, encoding="utf-8")
    result = DemoResult(root)
    console.rule("[bold]modelyard demo[/]")
    console.print(f"project folder: {root}")
    env = {**os.environ, "MODELYARD_USER": AUTHOR}
    with Registry.init(root, env=env) as reg:
        with console.status("1/5 registering the arrests data (scikit-lego, 5,226 rows)…"):
            df = arrests()
            tr, ev = train_test_split(df, test_size=0.3, random_state=0, stratify=df["released"])
            src = "sklego.datasets.load_arrests"
            ds_train = reg.add_dataset(tr.reset_index(drop=True), "arrests-train", f"{src} train")
            ds_eval = reg.add_dataset(ev.reset_index(drop=True), "arrests-eval", f"{src} eval")
        console.print(
            f"[green]✓[/] datasets [bold]{ds_train.ref}[/] ({ds_train.n_rows:,} rows) and "
            f"[bold]{ds_eval.ref}[/] ({ds_eval.n_rows:,} rows); protected: colour, sex, age"
        )

        plan: list[tuple[str, dict[str, Any]]] = [
            ("baseline", {"kind": "logistic"}),
            ("biased candidate", {"kind": "logistic", "biased": True}),
            ("boosting candidate", {"kind": "boosting"}),
        ]
        for label, params in plan:
            with console.status(f"2/5 training the {label} with lineage…"):
                mv = train(reg, params)
            result.versions[label] = mv.ref
            console.print(f"[green]✓[/] trained [bold]{mv.ref}[/] ({label}), run {mv.run_id}")

        reviewer = _as(reg, REVIEWER)
        try:
            for label, _params in plan:
                ref = result.versions[label]
                with console.status(f"3/5 release gates for {ref} ({label})…"):
                    report, _ = run_gate(reg, ref)
                result.gates[ref] = report.passed
                if report.passed:
                    console.print(f"[green]✓[/] gates passed for [bold]{ref}[/] ({label})")
                else:
                    result.reasons[ref] = ", ".join(report.failed_checks)
                    console.print(
                        f"[red]✗[/] gates [red]rejected[/] [bold]{ref}[/] ({label}): "
                        f"{report.reason()}"
                    )
                    continue
                own = None
                try:
                    approve(reg, ref, local_identity(reg.actor), "my own model looks fine")
                except Exception as exc:  # the four-eyes rule, shown on purpose
                    own = str(exc)
                decision = approve(
                    reviewer, ref, local_identity(reviewer.actor), f"gate report for {ref} reviewed"
                )
                console.print(
                    f"[green]✓[/] approved [bold]{ref}[/] by {REVIEWER}"
                    + (f" [dim](the author was refused: {own.split(':')[0]})[/]" if own else "")
                )
                assert decision.approved
                mv = deploy(reviewer, ref, "arrests", "production", reason=f"{label} release")
                result.champion = mv.ref
                console.print(f"[green]✓[/] 4/5 deployed [bold]{ref}[/] to endpoint arrests")
        finally:
            reviewer.close()

        if result.champion:
            _canary_story(reg, root, result, console, keep_serving)

        console.print("\n[bold]lineage of the champion[/]")
        if result.champion:
            print_model_lineage(model_lineage(reg, result.champion))
        for v in reg.model_versions("arrests"):
            result.states[v.ref] = v.state
        rows = []
        for entry in catalog(reg):
            for item in entry.versions:
                traffic = ", ".join(f"{r['role']} on {r['endpoint']}" for r in item["routes"])
                gates = {True: "[green]pass[/]", False: "[red]fail[/]", None: "-"}
                rows.append(
                    (
                        item["ref"],
                        render.state(item["state"]),
                        gates[item["last_gate"]],
                        result.reasons.get(item["ref"], ""),
                        traffic or "-",
                    )
                )
        render.table("Catalog", ["version", "state", "gates", "failed checks", "traffic"], rows)
        render.table("The story", ["stage", "outcome"], _story_rows(result))
        token = None
        if result.server is not None:
            from modelyard.security import tokens

            token = tokens.create(reg.store, "demo-explorer", "admin", AUTHOR).secret
    console.print(
        f"\ndone in {time.perf_counter() - started:.1f}s. Explore: "
        f"[bold]modelyard catalog -p {root}[/] · [bold]modelyard lineage "
        f"{result.champion or 'arrests@1'} -p {root}[/] · [bold]modelyard ui -p {root}[/] "
        "(dashboard)"
    )
    if result.server is not None:
        console.print(
            f"\nthe server keeps serving at [bold]{result.server_url}[/]: dashboard "
            f"[bold]{result.server_url}/ui[/] (sign in with the admin token "
            f"[bold]{token}[/]); Ctrl-C stops it"
        )
        try:
            result.server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            _stop(result.server)
    return result


def _story_rows(result: DemoResult) -> list[tuple[str, str]]:
    rows = []
    for ref, passed in result.gates.items():
        verdict = "passed" if passed else f"rejected ({result.reasons.get(ref, '')})"
        rows.append(("release gates", f"{ref}: {verdict}"))
    rows.append(("approval", f"four eyes: the author was refused, {REVIEWER} approved"))
    for ref, outcome in result.rollouts.items():
        rows.append(("canary on live traffic", f"{ref}: {outcome.replace('_', ' ')}"))
    for alert in result.alerts:
        rows.append(("drift alert", alert))
    for action in result.playbook_actions:
        rows.append(("playbook", action))
    if result.retrained:
        rows.append(("retrained by the playbook", result.retrained))
    rows.append(("champion", result.champion or "-"))
    return rows


def _canary_story(
    reg: Registry, root: Path, result: DemoResult, console: Console, keep_serving: bool = False
) -> None:
    """A retrained candidate goes through the gates, then a canary under generated traffic on a
    real server, analysed step by step by the rollout controller."""
    import socket
    import subprocess
    import sys
    import threading

    import httpx

    from modelyard.demo.training import FEATURES
    from modelyard.gates.runner import run_gate
    from modelyard.orchestration.canary import Controller, start
    from modelyard.orchestration.signals import PrometheusScrape
    from modelyard.security.access import local_identity
    from modelyard.security.approvals import approve

    fragile = _fragile_candidate(reg)
    result.versions["fragile candidate"] = fragile.ref
    with console.status("retraining a candidate with more boosting rounds…"):
        mv = train(reg, {"kind": "boosting", "max_iter": 80})
    result.versions["retrained candidate"] = mv.ref
    for candidate in (fragile, mv):
        report, _ = run_gate(reg, candidate.ref)
        result.gates[candidate.ref] = report.passed
        if not report.passed:
            console.print(f"[red]✗[/] gates rejected {candidate.ref}: {report.reason()}")
            return
    reviewer = _as(reg, REVIEWER)
    try:
        for candidate in (fragile, mv):
            approve(reviewer, candidate.ref, local_identity(reviewer.actor), "gate report reviewed")
    finally:
        reviewer.close()
    console.print(
        f"[green]✓[/] {fragile.ref} (fragile) and {mv.ref} (retrained) passed the gates and were "
        f"approved by {REVIEWER}"
    )

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (root / ".modelyard" / "demo-server.log").open("wb")
    exe = str(Path(sys.executable).with_name("modelyard"))
    env = {**os.environ, "MODELYARD_USER": "server"}
    server = subprocess.Popen(
        [exe, "serve", "--port", str(port), "--refresh", "0.2", "-p", str(root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    answered: dict[int, int] = {}

    frame = reg.load_dataset("arrests-eval@1")[FEATURES].copy()
    # live traffic has moved on in time: a third of the arrests happen after 2002
    later = frame.sample(frac=1 / 3, random_state=0).index
    frame.loc[later, "year"] = frame.loc[later, "year"] + 3
    variants = [frame.to_dict(orient="records")]
    variants += [shifted(frame, k).to_dict(orient="records") for k in (1, 2)]
    mode = [0]  # which variant the generators send: 0 as trained, 1-2 the population shifts

    def traffic() -> None:
        with httpx.Client(timeout=10) as client:
            i = 0
            while not stop.is_set():
                rows = variants[mode[0]]
                try:
                    r = client.post(
                        f"{base}/v1/models/arrests:predict",
                        json={"instances": [rows[i % len(rows)]]},
                    )
                    answered[r.status_code] = answered.get(r.status_code, 0) + 1
                except httpx.HTTPError:
                    answered[0] = answered.get(0, 0) + 1
                i += 1

    try:
        with console.status("starting the inference server…"):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/v2/health/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None:
                    console.print("[red]✗[/] the server did not start; see demo-server.log")
                    return
                time.sleep(0.3)
        # a 2-core laptop under a load generator is noisy on latency: the project's policy
        # judges errors strictly, latency loosely (p99 within 4x the champion's)
        policy = reg.config.model("arrests").rollout
        result.server_url = base
        workers = [threading.Thread(target=traffic) for _ in range(2)]
        for w in workers:
            w.start()
        ctl = Controller(reg, PrometheusScrape([f"{base}/metrics"]))
        for candidate, label in ((fragile, "fragile"), (mv, "retrained")):
            rid = start(reg, candidate.ref, "arrests", policy, reason=f"{label} candidate")
            console.print(
                f"[green]✓[/] canary rollout #{rid} of {candidate.ref} ({label}) at 25 % on {base}"
            )
            status = _follow(reg, ctl, rid, result, console)
            result.rollouts[candidate.ref] = status
            colour = "green" if status == "promoted" else "yellow"
            console.print(f"[{colour}]✓[/] rollout #{rid} of {candidate.ref}: {status}")
            if status == "promoted":
                result.champion = candidate.ref
        result.rollout = result.rollouts.get(mv.ref)
        if result.champion == mv.ref:
            _drift_story(reg, ctl, mode, result, console)
        stop.set()
        for w in workers:
            w.join()
        ok = answered.get(200, 0)
        failed = sum(v for k, v in answered.items() if k != 200)
        console.print(f"  {ok:,} requests answered, {failed} failed (all on the fragile canary)")
    finally:
        stop.set()
        if keep_serving and server.poll() is None:
            result.server = server  # run_demo stops it when the user is done exploring
        else:
            _stop(server)
        log.close()


def _stop(server: Any) -> None:
    import subprocess

    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def _fragile_candidate(reg: Registry) -> ModelVersion:
    """Trained like the others, but its feature code breaks on years after the training data."""
    from modelyard.demo.fragile import FragileYearModel
    from modelyard.demo.training import FEATURES, fit
    from modelyard.gates.retrain import TrainingInputs

    with reg.start_run(
        model="arrests", params={"kind": "boosting", "fragile": True}, seed=0
    ) as run:
        ds = run.use_dataset("arrests-train@1", role="train")
        df = reg.load_dataset(ds)
        inner = fit(TrainingInputs({"train": df}, {"train": ds.ref}, {"kind": "boosting"}, 0))
        model = FragileYearModel(inner, last_year=int(df["year"].max()))
        # not a plain scikit-learn object: stored with pickle, recorded as trusted
        return run.log_model(model, sample_input=df[FEATURES].head(20), trust=True)


def _follow(reg: Registry, ctl: Any, rid: int, result: DemoResult, console: Console) -> str:
    from modelyard.store.rollouts import RolloutStore

    deadline = time.monotonic() + 90
    status = "running"
    while status == "running" and time.monotonic() < deadline:
        for done in ctl.tick():
            outcome = done.get("outcome", done["decision"])
            figs = done.get("figures", {})
            err = figs.get("canary_error_rate")
            line = (
                f"step {done.get('step', 0) + 1}: {outcome} "
                f"({figs.get('canary_requests', 0):.0f} canary requests, "
                f"error rate {err if err is None else f'{err:.1%}'})"
            )
            result.rollout_steps.append(line)
            console.print(f"  [cyan]rollout #{rid}[/] {line}")
        status = str(RolloutStore(reg.store).get(rid)["status"])
        time.sleep(0.5)
    return status


def shifted(frame: Any, step: int) -> Any:
    """The incoming population changes: older arrestees (step 1), then also fewer employed,
    fewer citizens and more prior checks (step 2). Deterministic."""
    import numpy as np

    out = frame.copy()
    rng = np.random.default_rng(step)
    out["age"] = out["age"] + 12
    if step >= 2:
        n = len(out)
        out.loc[rng.random(n) < 0.6, "employed"] = "No"
        out.loc[rng.random(n) < 0.5, "citizen"] = "No"
        out["checks"] = np.minimum(out["checks"] + 2, 6)
    return out


def _drift_story(
    reg: Registry, ctl: Any, mode: list[int], result: DemoResult, console: Console
) -> None:
    """The incoming data shifts under the champion: warning, then critical drift alerts from
    the live monitor; the critical one runs the playbook, which retrains on the newest data,
    gates the candidate and leaves it for approval; once approved, it is canaried."""
    from functools import partial

    import pandas as pd

    from modelyard.monitoring.evaluate import Monitor
    from modelyard.monitoring.quality import window_quality
    from modelyard.monitoring.sinks import Dispatcher
    from modelyard.orchestration.canary import start
    from modelyard.orchestration.monitor_pass import run_pass
    from modelyard.orchestration.playbooks import Playbooks
    from modelyard.security.access import local_identity
    from modelyard.security.approvals import approve
    from modelyard.store.playbooks import PlaybookStore

    monitor = Monitor(reg, quality=partial(window_quality, reg))
    dispatcher = Dispatcher(reg.store, [])  # the demo prints alerts itself
    playbooks = Playbooks(reg, actor="monitor")
    console.print(
        "\n[bold]live monitoring[/]: the server writes 3-second windows; the monitor judges "
        "them against the champion's training data"
    )
    mode[0] = 1
    console.print("[yellow]![/] the incoming population shifts: arrestees are older (age +12)")
    fired: set[str] = set()
    deadline = time.monotonic() + 75
    retrain: dict[str, Any] | None = None
    while time.monotonic() < deadline and retrain is None:
        time.sleep(1.0)
        for e in run_pass(reg, monitor, dispatcher, playbooks):
            result.alerts.append(f"{e.tier} {e.rule} {e.event}")
            colour = {"warning": "yellow", "critical": "red"}.get(e.tier, "magenta")
            console.print(f"  [{colour}]alert #{e.alert_id} {e.tier}[/] {e.event}: {e.message}")
            fired.add(e.rule)
        if "drift-warning" in fired and mode[0] == 1:
            mode[0] = 2
            console.print(
                "[yellow]![/] the shift widens: fewer employed, fewer citizens, more prior "
                "checks; labelled records of the new population arrive as a new data version"
            )
            train_v1 = reg.load_dataset("arrests-train@1")
            cohort = shifted(train_v1, 2)
            data = pd.concat([train_v1, cohort], ignore_index=True)
            ds = reg.add_dataset(data, "arrests-train", "arrests-train@1 + the new population")
            console.print(f"[green]✓[/] registered [bold]{ds.ref}[/] ({ds.n_rows:,} rows)")
        for rec in reversed(PlaybookStore(reg.store).history(endpoint="arrests", limit=20)):
            line = f"{rec['playbook']} {rec['action']} {rec['status']}"
            if rec["action"] == "retrain" and rec["status"] in ("done", "failed"):
                retrain = dict(rec)
            if line not in result.playbook_actions:
                result.playbook_actions.append(line)
                console.print(
                    f"  [cyan]playbook[/] {rec['playbook']}: {rec['action']} → "
                    f"{rec['status']} {_outcome(rec)}"
                )
    if retrain is None or retrain["status"] != "done":
        console.print("[red]✗[/] the playbook did not produce a retrained candidate")
        return
    candidate = str(retrain["details"]["candidate"])
    result.retrained = candidate
    reports = reg.store.reports.of(reg.model_version(candidate).id)
    gate_id = retrain["details"].get("gate_report")
    result.gates[candidate] = any(r.id == gate_id and r.passed for r in reports)
    reviewer = _as(reg, REVIEWER)
    try:
        approve(
            reviewer,
            candidate,
            local_identity(reviewer.actor),
            "retrained on the new population; gates passed",
        )
    finally:
        reviewer.close()
    console.print(
        f"[green]✓[/] {REVIEWER} approved [bold]{candidate}[/] (retrained by the playbook)"
    )
    policy = reg.config.model("arrests").rollout
    rid = start(reg, candidate, "arrests", policy, reason="retrained on drift")
    console.print(f"[green]✓[/] canary rollout #{rid} of {candidate} at {policy.steps[0]:.0%}")
    status = _follow(reg, ctl, rid, result, console)
    result.rollouts[candidate] = status
    result.retrain_rollout = status
    if status == "promoted":
        result.champion = candidate
    colour = "green" if status == "promoted" else "yellow"
    console.print(f"[{colour}]✓[/] rollout #{rid} of {candidate}: {status}")


def _outcome(rec: dict[str, Any]) -> str:
    d = rec.get("details") or {}
    text = d.get("outcome") or d.get("error") or ""
    return f"[dim]({text})[/]" if text else ""


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    import logging

    logger = logging.getLogger("modelyard")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    before = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(before[0])
        logger.propagate = before[1]
