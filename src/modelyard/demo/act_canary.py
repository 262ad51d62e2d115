"""Act 2 of the demo, the canary: a fragile candidate (it breaks on years after its training
data) and a retrained one pass the gates and are approved, then each is canaried on a real server
under generated traffic, analysed step by step by the rollout controller: the fragile one is
rolled back, the retrained one promoted. The drift act runs while the server and traffic are up."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from modelyard.demo.act_drift import drift, shifted
from modelyard.demo.project import REVIEWER, DemoResult
from modelyard.demo.steps import as_user, follow, train
from modelyard.registry.registry import ModelVersion, Registry


def canary(
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
    from modelyard.registry.approvals import approve
    from modelyard.security.access import local_identity

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
    reviewer = as_user(reg, REVIEWER)
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
            status = follow(reg, ctl, rid, result, console)
            result.rollouts[candidate.ref] = status
            colour = "green" if status == "promoted" else "yellow"
            console.print(f"[{colour}]✓[/] rollout #{rid} of {candidate.ref}: {status}")
            if status == "promoted":
                result.champion = candidate.ref
        result.rollout = result.rollouts.get(mv.ref)
        if result.champion == mv.ref:
            drift(reg, ctl, mode, result, console)
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
            stop_server(server)
        log.close()


def stop_server(server: Any) -> None:
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
