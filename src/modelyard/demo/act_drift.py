"""Act 3 of the demo, the drift: the incoming population shifts under the champion, the live
monitor raises a warning then a critical drift alert, the critical one runs the retrain playbook,
and its candidate, once approved, is canaried."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

from modelyard.core.operations_records import ActionRecord
from modelyard.demo.project import REVIEWER, DemoResult
from modelyard.demo.steps import as_user, follow
from modelyard.registry import queries
from modelyard.registry.registry import Registry


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


def drift(reg: Registry, ctl: Any, mode: list[int], result: DemoResult, console: Console) -> None:
    """The incoming data shifts under the champion: warning, then critical drift alerts from
    the live monitor; the critical one runs the playbook, which retrains on the newest data,
    gates the candidate and leaves it for approval; once approved, it is canaried."""
    from functools import partial

    import pandas as pd

    from modelyard.monitoring.action_log import actions
    from modelyard.monitoring.evaluate import Monitor
    from modelyard.monitoring.quality import window_quality
    from modelyard.monitoring.sinks import Dispatcher
    from modelyard.orchestration.canary import start
    from modelyard.orchestration.monitor_pass import run_pass
    from modelyard.orchestration.playbooks import Playbooks
    from modelyard.registry.approvals import approve
    from modelyard.security.access import local_identity

    monitor = Monitor(reg, quality=partial(window_quality, reg))
    dispatcher = Dispatcher.of(reg, [])  # the demo prints alerts itself
    playbooks = Playbooks(reg, actor="monitor")
    console.print(
        "\n[bold]live monitoring[/]: the server writes 3-second windows; the monitor judges "
        "them against the champion's training data"
    )
    mode[0] = 1
    console.print("[yellow]![/] the incoming population shifts: arrestees are older (age +12)")
    fired: set[str] = set()
    deadline = time.monotonic() + 75
    retrain: ActionRecord | None = None
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
        for rec in reversed(actions(reg, "arrests", limit=20)):
            line = f"{rec.playbook} {rec.action} {rec.status}"
            if rec.action == "retrain" and rec.status in ("done", "failed"):
                retrain = rec
            if line not in result.playbook_actions:
                result.playbook_actions.append(line)
                console.print(
                    f"  [cyan]playbook[/] {rec.playbook}: {rec.action} → "
                    f"{rec.status} {_outcome(rec)}"
                )
    if retrain is None or retrain.status != "done":
        console.print("[red]✗[/] the playbook did not produce a retrained candidate")
        return
    candidate = str(retrain.details["candidate"])
    result.retrained = candidate
    reports = queries.reports(reg, reg.model_version(candidate).id)
    gate_id = retrain.details.get("gate_report")
    result.gates[candidate] = any(r.id == gate_id and r.passed for r in reports)
    reviewer = as_user(reg, REVIEWER)
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
    status = follow(reg, ctl, rid, result, console)
    result.rollouts[candidate] = status
    result.retrain_rollout = status
    if status == "promoted":
        result.champion = candidate
    colour = "green" if status == "promoted" else "yellow"
    console.print(f"[{colour}]✓[/] rollout #{rid} of {candidate}: {status}")


def _outcome(rec: ActionRecord) -> str:
    d = rec.details
    text = d.get("outcome") or d.get("error") or ""
    return f"[dim]({text})[/]" if text else ""
