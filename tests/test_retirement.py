"""Retirement triggers: idle versions, sustained drift and a live KPI under target are proposed
for retirement (recorded in the audit log, shown in the catalog and by `retire --proposals`),
never retired by themselves."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from modelyard.orchestration.operations import deploy
from modelyard.orchestration.retirement import propose_retirements
from modelyard.registry.catalog import catalog
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.windows import WindowStore
from tests.support.alerts import insert_alert

MODELYARD = str(Path(sys.executable).with_name("modelyard"))
NOW = dt.datetime.now(dt.UTC) + dt.timedelta(days=60)  # far enough past every deployment


def _deployed(reg: Registry, endpoints: list[str]) -> list[ModelVersion]:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True, as_frame=True)
    out = []
    for depth, endpoint in enumerate(endpoints, start=1):
        with reg.start_run(model="wine") as run:
            mv = run.log_model(DecisionTreeClassifier(max_depth=depth).fit(X, y), X.head())
        reg.transition(mv, "validated", reason="gates passed")
        reg.transition(mv, "approved", reason="reviewed")
        out.append(deploy(reg, mv.ref, endpoint))
    return out


def _seen(reg: Registry, mv: ModelVersion, endpoint: str, at: dt.datetime) -> None:
    row = {
        "endpoint": endpoint,
        "version_id": mv.id,
        "replica": "r1",
        "start": at - dt.timedelta(minutes=1),
        "end": at,
        "requests": 120,
        "errors": 0,
        "cpu_s": 0.1,
        "sketch": "{}",
    }
    WindowStore(reg.store).put([row], merge=lambda old, new: old)


def _alert(reg: Registry, endpoint: str, rule: str, started: dt.datetime, state: str) -> None:
    insert_alert(reg, endpoint, rule, state, started)


def _reopen(reg: Registry, project_dir: Path, tail: str) -> Registry:
    file = project_dir / "modelyard.yaml"
    file.write_text(file.read_text().replace("models: {}\n", tail))
    env = {"MODELYARD_STORE_URL": reg.settings.store_url, "MODELYARD_USER": "tester"}
    return Registry.open(project_dir, env=env)


def test_an_idle_version_is_proposed_and_an_active_one_is_not(registry: Registry) -> None:
    idle, active = _deployed(registry, ["old", "new"])
    _seen(registry, idle, "old", NOW - dt.timedelta(days=45))
    _seen(registry, active, "new", NOW - dt.timedelta(days=45))
    _seen(registry, active, "new", NOW - dt.timedelta(hours=3))
    (p,) = propose_retirements(registry, now=NOW)
    assert (p.version, p.trigger) == (idle.ref, "idle")
    assert "no traffic for 45.0 days (limit 30)" in p.reason
    assert registry.model_version(idle.ref).state == "deployed", "proposed, never retired"


def test_a_version_never_seen_since_its_deployment_is_idle(registry: Registry) -> None:
    (mv,) = _deployed(registry, ["wine"])
    assert propose_retirements(registry, now=dt.datetime.now(dt.UTC)) == []
    (p,) = propose_retirements(registry, now=NOW)
    assert p.version == mv.ref and p.reason.startswith("never any traffic")


def test_the_idle_limit_is_set_per_model(registry: Registry, project_dir: Path) -> None:
    (mv,) = _deployed(registry, ["wine"])
    _seen(registry, mv, "wine", NOW - dt.timedelta(days=10))
    assert propose_retirements(registry, now=NOW, record=False) == []
    tail = "models:\n  wine:\n    rollout: {retire_after_idle_days: 7}\n"
    reg = _reopen(registry, project_dir, tail)
    try:
        (p,) = propose_retirements(reg, now=NOW, record=False)
        assert p.trigger == "idle" and "(limit 7)" in p.reason
    finally:
        reg.close()


def test_sustained_drift_is_proposed_but_a_short_or_resolved_one_is_not(
    registry: Registry,
) -> None:
    drifting, fresh, healed = _deployed(registry, ["a", "b", "c"])
    for mv, ep in ((drifting, "a"), (fresh, "b"), (healed, "c")):
        _seen(registry, mv, ep, NOW - dt.timedelta(hours=1))
    _alert(registry, "a", "income-drift", NOW - dt.timedelta(days=20), "firing")
    _alert(registry, "a", "latency-p99", NOW - dt.timedelta(days=20), "firing")
    _alert(registry, "b", "income-drift", NOW - dt.timedelta(days=2), "firing")
    _alert(registry, "c", "income-drift", NOW - dt.timedelta(days=20), "resolved")
    (p,) = propose_retirements(registry, now=NOW)
    assert (p.version, p.trigger) == (drifting.ref, "drift")
    assert "'income-drift' on a firing for 20.0 days (limit 14)" in p.reason


def test_a_live_kpi_under_the_declared_target_is_proposed(
    registry: Registry, project_dir: Path
) -> None:
    (mv,) = _deployed(registry, ["wine"])
    _seen(registry, mv, "wine", NOW - dt.timedelta(hours=1))
    windows = WindowStore(registry.store)
    for hours, kpi in ((3, 0.9), (2, 0.41)):
        start = NOW - dt.timedelta(hours=hours)
        end = start + dt.timedelta(hours=1)
        windows.put_result("wine", mv.id, start, end, 300, {"quality": {"kpi": kpi}})
    assert propose_retirements(registry, now=NOW) == [], "no target declared"
    reg = _reopen(registry, project_dir, "models:\n  wine:\n    rollout: {kpi_target: 0.5}\n")
    try:
        (p,) = propose_retirements(reg, now=NOW)
        assert p.trigger == "kpi" and p.figures["kpi"] == 0.41
        assert p.reason == "live KPI 0.41 below the target 0.5"
    finally:
        reg.close()


def test_proposals_are_audited_once_and_shown_in_the_catalog(registry: Registry) -> None:
    (mv,) = _deployed(registry, ["wine"])
    _seen(registry, mv, "wine", NOW - dt.timedelta(days=40))
    propose_retirements(registry, now=NOW)
    propose_retirements(registry, now=NOW)
    entries = registry.store.chain.entries(action="lifecycle.retirement_proposed")
    assert [(e.target, e.data["trigger"]) for e in entries] == [(f"model:{mv.ref}", "idle")]
    (entry,) = catalog(registry)
    assert [(p["version"], p["trigger"]) for p in entry.proposals] == [(mv.ref, "idle")]


def test_retire_proposals_command_lists_them_without_retiring(tmp_path: Path) -> None:
    root = tmp_path / "p"
    reg = Registry.init(root, env={"MODELYARD_USER": "tester"}, identity="os")
    try:
        (mv,) = _deployed(reg, ["wine"])
        _seen(reg, mv, "wine", dt.datetime.now(dt.UTC) - dt.timedelta(days=90))
    finally:
        reg.close()
    env = {**os.environ, "MODELYARD_USER": "tester", "COLUMNS": "200"}
    out = subprocess.run(
        [MODELYARD, "retire", "--proposals", "--json", "-p", str(root)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    (doc,) = json.loads(out.stdout)
    assert doc["version"] == "wine@1" and doc["trigger"] == "idle"
    bad = subprocess.run(
        [MODELYARD, "retire", "-p", str(root)], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and "--proposals" in bad.stderr + bad.stdout
    with Registry.open(root, env={"MODELYARD_USER": "tester"}) as again:
        assert again.model_version("wine@1").state == "deployed"
