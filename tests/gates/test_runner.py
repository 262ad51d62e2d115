"""The whole round trip on a real project: policy → checks → stored report → lifecycle."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import pytest

from modelyard.core.errors import ConfigError
from modelyard.core.records import ReportRecord
from modelyard.gates import CheckResult, register_check, unregister_check
from modelyard.gates.context import GateContext
from modelyard.gates.report import SCHEMA_VERSION, GateReport, report_json_schema
from modelyard.gates.runner import run_gate
from modelyard.registry.lineage import model_lineage
from modelyard.registry.registry import ModelVersion, Registry
from tests.gates.conftest import DEFAULT_GATES, train_version


def _stored(reg: Registry, mv: ModelVersion) -> tuple[ReportRecord, dict[str, Any], str]:
    row = reg.store.reports.of(mv.id)[-1]
    assert row.artifact_digest is not None and row.html_digest is not None
    doc = json.loads(reg.artifacts.get(row.artifact_digest))
    html = reg.artifacts.get(row.html_digest).decode()
    return row, doc, html


def test_fair_candidate_passes_and_is_validated(gate_project: Callable[..., Any]) -> None:
    reg = gate_project()
    mv = train_version(reg)
    report, report_id = run_gate(reg, mv.ref)
    assert report.passed, [c.message for c in report.checks if c.failed]
    assert [c.name for c in report.checks] == [
        "schema",
        "metrics",
        "segments",
        "fairness",
        "calibration",
    ]
    assert reg.model_version(mv.ref).state == "validated"
    row, doc, html = _stored(reg, mv)
    assert row.id == report_id and row.kind == "gate" and row.passed is True
    assert row.summary["checks"]["fairness"] == "pass"
    # the JSON is the versioned contract and validates against its own schema model
    assert doc["schema_version"] == SCHEMA_VERSION
    assert GateReport.model_validate(doc).model == mv.ref
    assert doc["dataset"] == "arrests-eval@1" and doc["transition"] == {
        "from": "proposed",
        "to": "validated",
    }
    assert "properties" in report_json_schema() and "charts" not in json.dumps(doc["checks"][0])
    # one self-contained HTML file: inline CSS and SVG, no scripts, nothing fetched
    assert html.startswith("<!doctype html>") and "<style>" in html and "<svg" in html
    assert "<script" not in html and not re.search(r"(src|href)=\"https?://", html)
    assert "reliability diagram" in html and "colour: demographic parity difference" in html
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) >= 3
    for svg in svgs:
        ElementTree.fromstring(svg)  # well-formed XML: browsers draw it inline
    # reachable from lineage, with the transition's reason pointing at the report
    graph = model_lineage(reg, mv.ref)
    assert graph["reports"][-1]["html_digest"] == row.html_digest
    assert f"gate report #{report_id}" in graph["transitions"][-1]["reason"]


def test_unfair_candidate_is_rejected_with_the_reason(gate_project: Callable[..., Any]) -> None:
    reg = gate_project()
    mv = train_version(reg, biased=True)
    report, _ = run_gate(reg, mv.ref)
    assert not report.passed and "fairness" in report.failed_checks
    after = reg.model_version(mv.ref)
    assert after.state == "rejected"
    reason = reg.store.versions.transitions_of(mv.id)[-1].reason
    assert reason.startswith("failed the gates") and "colour: demographic parity" in reason


def test_champion_in_production_is_compared_side_by_side(gate_project: Callable[..., Any]) -> None:
    reg = gate_project(
        DEFAULT_GATES.replace("metrics:\n", "metrics:\n  non_inferiority: {roc_auc: 0.005}\n")
    )
    champion = train_version(reg)
    reg.transition(champion, "validated", "gated")
    reg.transition(champion, "approved", "reviewed")
    reg.deploy(champion, "arrests", reason="first release")
    challenger = train_version(reg, C=0.001)
    report, _ = run_gate(reg, challenger.ref, transition=False)
    assert report.champion == champion.ref
    assert report.champion_rule == "production on endpoint arrests"
    metrics = next(c for c in report.checks if c.name == "metrics")
    assert all(f.champion is not None for f in metrics.figures if f.name in ("roc_auc", "accuracy"))
    worse = next(f for f in metrics.figures if f.name == "roc_auc worsening vs champion")
    assert worse.value is not None and worse.limit == "≤ 0.005"
    assert reg.model_version(challenger.ref).state == "proposed"  # --no-transition


def test_reproducibility_retrains_from_lineage(gate_project: Callable[..., Any]) -> None:
    gates = DEFAULT_GATES + "reproducibility: {metrics: [accuracy, roc_auc], tolerance: 1.0e-9}\n"
    reg = gate_project(gates)
    mv = train_version(reg, C=0.5)
    report, _ = run_gate(reg, mv.ref, only=["reproducibility"])
    result = report.checks[0]
    assert result.status == "pass", result.message
    assert result.details["metrics"]["accuracy"]["registered"] == pytest.approx(
        result.details["metrics"]["accuracy"]["retrained"], abs=1e-12
    )
    assert result.details["registered_digest"] == mv.artifact_digest
    assert isinstance(result.details["identical_digest"], bool)


def test_missing_dataset_and_unknown_checks_are_configuration_errors(
    gate_project: Callable[..., Any],
) -> None:
    reg = gate_project("calibration: {max_ece: 0.05}\n")
    mv = train_version(reg)
    with pytest.raises(ConfigError, match=r"models\.arrests\.gates\.dataset is not set"):
        run_gate(reg, mv.ref)
    reg2 = gate_project()
    with pytest.raises(ConfigError, match="did you mean 'fairness'"):
        run_gate(reg2, mv.ref, only=["fairnes"])
    assert reg.model_version(mv.ref).state == "proposed"


class AlwaysWarn:
    """A plug-in check: registered by name, configured under `plugins:`."""

    name = "always_warn"

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def run(self, ctx: GateContext) -> CheckResult:
        return CheckResult(name=self.name, status="warn", message=self.options["say"])


def test_plugin_checks_run_like_builtins(gate_project: Callable[..., Any]) -> None:
    reg = gate_project(DEFAULT_GATES + "plugins: {always_warn: {say: heads up}}\n")
    mv = train_version(reg)
    register_check("always_warn", AlwaysWarn)
    try:
        report, _ = run_gate(reg, mv.ref, only=["always_warn", "schema"])
    finally:
        unregister_check("always_warn")
    assert report.passed and report.checks[-1].status == "warn"
    assert report.checks[-1].message == "heads up"
    assert "warnings: always_warn" in reg.store.versions.transitions_of(mv.id)[-1].reason
    with pytest.raises(ConfigError, match="unknown gate check 'always_warn'"):
        run_gate(reg, mv.ref)


def test_regating_a_validated_version_can_reject_it(gate_project: Callable[..., Any]) -> None:
    from modelyard.core.gate_policy import GatePolicy

    reg = gate_project()
    mv = train_version(reg)
    first, _ = run_gate(reg, mv.ref, only=["calibration"])
    assert first.passed and reg.model_version(mv.ref).state == "validated"
    stricter = GatePolicy.model_validate(
        {"dataset": "arrests-eval@1", "positive_label": "Yes", "calibration": {"max_ece": 1e-6}}
    )
    second, _ = run_gate(reg, mv.ref, policy=stricter)
    assert not second.passed and second.transition == {"from": "validated", "to": "rejected"}
    assert reg.model_version(mv.ref).state == "rejected"
    assert [r.passed for r in reg.store.reports.of(mv.id)] == [True, False]
    third, _ = run_gate(reg, mv.ref)  # passes, but a rejected version must be re-proposed first
    assert third.passed and third.transition is None
    assert reg.model_version(mv.ref).state == "rejected"
