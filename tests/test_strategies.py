"""Delivery strategies (direct, blue-green, shadow; canary elsewhere), the strategy chosen by the
project file or the command line, and the rule that only gated versions take traffic — at
deploy time and again when a server reads the routes (even routes written by hand)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from modelyard.core.endpoint_config import EndpointConfig
from modelyard.core.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    ModelyardError,
    PermissionDenied,
)
from modelyard.orchestration.operations import (
    blue_green,
    champion,
    deploy,
    resolve_strategy,
    rollback,
    shadow,
)
from modelyard.orchestration.shadow_report import compare
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.serving.sources import StoreRoutes
from modelyard.store import schema as t


def _versions(reg: Registry, n: int, approve: bool = True) -> list[ModelVersion]:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True, as_frame=True)
    out = []
    for depth in range(1, n + 1):
        with reg.start_run(model="wine", params={"depth": depth}) as run:
            mv = run.log_model(
                DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y),
                sample_input=X.head(),
            )
        if approve:
            reg.transition(mv, "validated", reason="gates passed")
            mv = reg.transition(mv, "approved", reason="reviewed")
        out.append(mv)
    return out


def _gate_report(reg: Registry, mv: ModelVersion, passed: bool) -> None:
    reg.store.reports.add(
        {
            "model_version_id": mv.id,
            "kind": "gate",
            "passed": passed,
            "summary": {"passed": passed},
            "created_by": "tester",
        }
    )


def _plan(reg: Registry, endpoint: str) -> list[tuple[int, str, float]]:
    return [(r.version, r.role, r.weight) for r in reg.store.routes.all(endpoint)]


def _reopen(reg: Registry, project_dir: Path, yaml_tail: str) -> Registry:
    file = project_dir / "modelyard.yaml"
    file.write_text(file.read_text().replace("models: {}\n", yaml_tail))
    env = {"MODELYARD_STORE_URL": reg.settings.store_url, "MODELYARD_USER": "tester"}
    return Registry.open(project_dir, env=env)


# ---- blue-green ---------------------------------------------------------------------------
def test_blue_green_keeps_the_old_champion_warm_as_a_zero_weight_standby(
    registry: Registry,
) -> None:
    v1, v2 = _versions(registry, 2)
    deploy(registry, v1.ref, "wine")
    result = blue_green(registry, v2.ref, "wine", reason="release 2")
    assert (result.live, result.standby) == ("wine@2", "wine@1")
    assert _plan(registry, "wine") == [(2, "production", 1.0), (1, "fallback", 0.0)]
    assert registry.model_version("wine@1").state == "deployed", "still routable"


def test_rollback_after_blue_green_returns_to_the_standby_in_one_step(registry: Registry) -> None:
    v1, v2 = _versions(registry, 2)
    deploy(registry, v1.ref, "wine")
    blue_green(registry, v2.ref, "wine")
    result = rollback(registry, "wine", reason="error rate doubled")
    assert (result.from_version, result.to_version) == ("wine@2", "wine@1")
    assert _plan(registry, "wine") == [(1, "production", 1.0)]
    assert registry.model_version("wine@2").state == "approved"


def test_a_new_blue_green_release_replaces_the_earlier_standby(registry: Registry) -> None:
    v1, v2, v3 = _versions(registry, 3)
    deploy(registry, v1.ref, "wine")
    blue_green(registry, v2.ref, "wine")
    result = blue_green(registry, v3.ref, "wine")
    assert (result.standby, result.released) == ("wine@2", ("wine@1",))
    assert _plan(registry, "wine") == [(3, "production", 1.0), (2, "fallback", 0.0)]
    assert registry.model_version("wine@1").state == "approved", "a last-known-good candidate"
    with pytest.raises(Conflict, match="already the champion"):
        blue_green(registry, v3.ref, "wine")


def test_blue_green_on_an_empty_endpoint_has_no_standby(registry: Registry) -> None:
    (v1,) = _versions(registry, 1)
    result = blue_green(registry, v1.ref, "wine")
    assert result.standby is None and _plan(registry, "wine") == [(1, "production", 1.0)]


# ---- shadow -------------------------------------------------------------------------------
def test_a_shadow_mirrors_a_sample_and_never_becomes_champion(registry: Registry) -> None:
    v1, v2 = _versions(registry, 2)
    with pytest.raises(Conflict, match="no champion to mirror"):
        shadow(registry, v2.ref, "wine", 0.5)
    deploy(registry, v1.ref, "wine")
    shadow(registry, v2.ref, "wine", 0.5)
    assert _plan(registry, "wine") == [(1, "production", 1.0), (2, "shadow", 0.5)]
    assert champion(registry, "wine").ref == "wine@1"  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="sample"):
        shadow(registry, v2.ref, "wine", 1.5)
    with pytest.raises(Conflict, match="is the champion"):
        shadow(registry, v1.ref, "wine", 0.5)


def test_the_server_plan_mirrors_the_share_the_shadow_route_carries(registry: Registry) -> None:
    v1, v2 = _versions(registry, 2)
    deploy(registry, v1.ref, "wine")
    shadow(registry, v2.ref, "wine", 0.25)
    configs: dict[str, EndpointConfig] = {}
    source = StoreRoutes(registry, configs)
    specs = source.fetch({})
    assert specs is not None and [r.role for r in specs["wine"].routes] == ["production", "shadow"]
    assert configs["wine"].shadow.sample == 0.25
    registry.undeploy(v2, "wine", reason="enough")
    source.fetch({})
    assert "wine" not in configs, "back to the project file's settings"


# ---- strategy from the project file or the command line ------------------------------------
def test_the_project_file_declares_the_strategy_and_the_command_line_wins(
    registry: Registry, project_dir: Path
) -> None:
    (v1,) = _versions(registry, 1)
    assert resolve_strategy(registry, v1.ref, None) == "direct"
    reg = _reopen(registry, project_dir, "models:\n  wine:\n    rollout: {strategy: blue-green}\n")
    try:
        assert resolve_strategy(reg, v1.ref, None) == "blue-green"
        assert resolve_strategy(reg, v1.ref, "shadow") == "shadow"
        with pytest.raises(InvalidInput, match="expected one of direct, blue-green"):
            resolve_strategy(reg, v1.ref, "red-black")
    finally:
        reg.close()


# ---- only gated versions take traffic ---------------------------------------------------------
def test_deploy_refuses_versions_that_are_not_approved(registry: Registry) -> None:
    (v1,) = _versions(registry, 1, approve=False)
    with pytest.raises(IllegalTransition, match="wine@1 is proposed"):
        deploy(registry, v1.ref, "wine")
    registry.transition(v1, "validated", reason="gates passed")
    with pytest.raises(IllegalTransition, match="wine@1 is validated"):
        blue_green(registry, v1.ref, "wine")
    assert registry.store.routes.all("wine") == []


def test_deploy_refuses_a_version_whose_latest_gate_report_failed(registry: Registry) -> None:
    v1, v2 = _versions(registry, 2)
    deploy(registry, v1.ref, "wine")
    _gate_report(registry, v2, passed=False)
    for attempt in (
        lambda: deploy(registry, v2.ref, "wine"),
        lambda: shadow(registry, v2.ref, "wine", 1.0),
        lambda: blue_green(registry, v2.ref, "wine"),
    ):
        with pytest.raises(IllegalTransition, match="failed its latest release gates"):
            attempt()
    _gate_report(registry, v2, passed=True)
    deploy(registry, v2.ref, "wine")
    assert champion(registry, "wine").ref == "wine@2"  # type: ignore[union-attr]


def test_a_policy_can_require_a_passing_gate_report(registry: Registry, project_dir: Path) -> None:
    (v1,) = _versions(registry, 1)
    tail = "models:\n  wine:\n    rollout: {require_gate_report: true}\n"
    reg = _reopen(registry, project_dir, tail)
    try:
        with pytest.raises(IllegalTransition, match="no gate report"):
            deploy(reg, v1.ref, "wine")
        _gate_report(reg, v1, passed=True)
        assert deploy(reg, v1.ref, "wine").state == "deployed"
    finally:
        reg.close()


def test_deploy_rechecks_the_approvals_governance_requires(
    registry: Registry, project_dir: Path
) -> None:
    (v1,) = _versions(registry, 1)  # approved while no approval was required
    reg = _reopen(registry, project_dir, "models: {}\ngovernance:\n  approvals: {required: 1}\n")
    try:
        with pytest.raises(PermissionDenied, match="0 of 1 required approval"):
            deploy(reg, v1.ref, "wine")
    finally:
        reg.close()


def test_a_route_written_by_hand_to_an_ungated_version_is_refused_by_the_server_source(
    registry: Registry,
) -> None:
    (v1,) = _versions(registry, 1)
    (v2,) = _versions(registry, 1, approve=False)
    registry.transition(v2, "validated", reason="gates passed")
    deploy(registry, v1.ref, "wine")
    with registry.store.tx() as conn:  # bypassing every check, as a hand edit would
        conn.execute(
            insert(t.routes).values(
                endpoint="wine",
                model_version_id=v2.id,
                role="canary",
                weight=0.5,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    specs = StoreRoutes(registry, {}).fetch({})
    assert specs is not None
    spec = specs["wine"]
    assert [r.version.ref for r in spec.routes] == ["wine@1"]
    assert spec.refused == [
        {
            "version": "wine@2",
            "reason": "wine@2 is validated; traffic needs one of: deployed, deprecated",
        }
    ]


def test_a_state_written_by_hand_is_not_trusted_by_deploy_or_by_the_server(
    registry: Registry,
) -> None:
    from sqlalchemy import update

    (v1,) = _versions(registry, 1)
    (v2,) = _versions(registry, 1, approve=False)  # proposed: never gated, never approved
    deploy(registry, v1.ref, "wine")
    with registry.store.tx() as conn:  # promote it and route it behind every check's back
        conn.execute(
            update(t.model_versions).where(t.model_versions.c.id == v2.id).values(state="deployed")
        )
        conn.execute(
            insert(t.routes).values(
                endpoint="wine",
                model_version_id=v2.id,
                role="canary",
                weight=0.5,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    spec = StoreRoutes(registry, {}).fetch({})["wine"]  # type: ignore[index]
    assert [r.version.ref for r in spec.routes] == ["wine@1"]
    [refused] = spec.refused
    assert refused["version"] == "wine@2" and "edited by hand" in refused["reason"]
    with pytest.raises(ModelyardError, match="edited by hand"):
        deploy(registry, "wine@2", "wine", "canary", weight=0.2)


# ---- the shadow comparison, on its own -------------------------------------------------------
def _entry(
    pid: str, version: str, role: str, label: int, proba: float, ms: float
) -> dict[str, Any]:
    return {
        "id": pid,
        "at": f"2026-01-01T00:00:{int(pid):02d}+00:00",
        "version": version,
        "role": role,
        "latency_ms": ms,
        "output": {"predict": [label], "predict_proba": [[1 - proba, proba]]},
    }


def test_the_shadow_comparison_holds_until_enough_pairs_and_counts_unanswered_requests() -> None:
    entries = []
    for i in range(10):
        entries.append(_entry(str(i), "m@1", "production", i % 2, 0.6, 1.0 + i))
        if i != 4:  # request 4 never got its shadow answer
            entries.append(_entry(str(i), "m@2", "shadow", i % 2 if i else 1, 0.7, 2.0))
    r = compare("m", "m@2", entries, sample=1.0, min_pairs=5)
    assert (r.pairs, r.rows, r.unanswered, r.shadow_errors) == (9, 9, 1, 1)
    assert r.agreement == pytest.approx(8 / 9)
    assert r.score_outputs == ["predict_proba"]
    assert r.score_diff is not None and r.score_diff["max"] == pytest.approx(0.1)
    assert r.passed is False and "agreement 88.9% < 95.0%" in r.verdict
    held = compare("m", "m@2", entries, sample=0.5, min_pairs=50)
    assert held.passed is None and held.verdict.startswith("hold: 9 paired answers")
    assert held.shadow_errors is None, "with sampling a missing answer is not an error"


# ---- the command line ---------------------------------------------------------------------------
def test_deploy_command_runs_each_strategy_and_shadow_report_says_when_there_is_nothing(
    tmp_path: Path,
) -> None:
    import json
    import os
    import subprocess
    import sys

    root = tmp_path / "p"
    reg = Registry.init(root, env={"MODELYARD_USER": "tester"}, identity="os")
    try:
        _versions(reg, 3)
    finally:
        reg.close()
    env = {**os.environ, "MODELYARD_USER": "tester", "COLUMNS": "200"}

    def my(*args: str) -> subprocess.CompletedProcess[str]:
        exe = str(Path(sys.executable).with_name("modelyard"))
        return subprocess.run(
            [exe, *args, "-p", str(root)], capture_output=True, text=True, env=env, timeout=120
        )

    assert my("deploy", "wine@1", "--to", "wine").returncode == 0
    green = my("deploy", "wine@2", "--to", "wine", "--strategy", "blue-green", "--json")
    assert green.returncode == 0, green.stderr
    doc = json.loads(green.stdout)
    assert (doc["strategy"], doc["standby"]) == ("blue-green", "wine@1")
    assert [(p["version"], p["role"]) for p in doc["plan"]] == [
        ("wine@2", "production"),
        ("wine@1", "fallback"),
    ]
    mirrored = my("deploy", "wine@3", "--to", "wine", "--strategy", "shadow", "--sample", "0.3")
    assert mirrored.returncode == 0, mirrored.stderr
    bad = my("deploy", "wine@3", "--to", "wine", "--strategy", "red-black")
    assert bad.returncode == 2 and "expected one of direct, blue-green" in bad.stderr + bad.stdout
    report = my("shadow", "report", "wine", "--json")
    assert report.returncode == 0, report.stderr
    held = json.loads(report.stdout)
    assert (held["shadow"], held["pairs"], held["passed"]) == ("wine@3", 0, None)
    assert held["verdict"] == "hold: 0 paired answers, 50 needed to judge wine@3"
    missing = my("shadow", "report", "nowhere")
    assert missing.returncode == 1 and "no shadow answers" in missing.stderr + missing.stdout
