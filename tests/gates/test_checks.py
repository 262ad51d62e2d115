"""Each check on real data (arrests): it fails when it should and passes when it should."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.core.errors import ConfigError
from modelyard.core.gate_policy import (
    Bound,
    CalibrationPolicy,
    CostPolicy,
    ExplainPolicy,
    FairnessPolicy,
    KpiPolicy,
    LoadPolicy,
    MetricsPolicy,
    RobustnessPolicy,
    SchemaPolicy,
    SegmentPolicy,
)
from modelyard.gates.checks.calibration import CalibrationCheck
from modelyard.gates.checks.cost import CostCheck
from modelyard.gates.checks.explain import ExplainCheck
from modelyard.gates.checks.fairness import FairnessCheck
from modelyard.gates.checks.kpi import KpiCheck
from modelyard.gates.checks.load import LoadCheck, LoadRequest, LoadResult, set_load_runner
from modelyard.gates.checks.metrics import MetricsCheck
from modelyard.gates.checks.robustness import RobustnessCheck
from modelyard.gates.checks.schema import SchemaCheck
from modelyard.gates.checks.segments import SegmentsCheck


def fig(result: Any, name: str) -> Any:
    return next(f for f in result.figures if f.name == name)


# ---- metrics -----------------------------------------------------------------------------
def test_metric_thresholds_pass_and_fail(make_ctx: Callable[..., Any]) -> None:
    ok = MetricsCheck(MetricsPolicy(thresholds={"roc_auc": Bound(min=0.65)})).run(make_ctx())
    assert ok.status == "pass"
    bad = MetricsCheck(MetricsPolicy(thresholds={"roc_auc": Bound(min=0.65)})).run(
        make_ctx("dummy")
    )
    assert bad.status == "fail" and "roc_auc 0.5" in bad.message and "≥ 0.65" in bad.message


def test_non_inferiority_against_the_champion(make_ctx: Callable[..., Any]) -> None:
    policy = MetricsPolicy(non_inferiority={"roc_auc": 0.005, "log_loss": 0.01})
    worse = MetricsCheck(policy).run(make_ctx("dummy", champion="fair"))
    assert worse.status == "fail"
    f = fig(worse, "roc_auc worsening vs champion")
    assert f.value == pytest.approx(worse.details["champion"]["roc_auc"] - 0.5)
    better = MetricsCheck(policy).run(make_ctx("fair", champion="dummy"))
    assert better.status == "pass"
    alone = MetricsCheck(policy).run(make_ctx("fair"))
    assert alone.status == "pass" and "no champion" in (
        fig(alone, "roc_auc worsening vs champion").note or ""
    )


def test_metric_for_the_wrong_task_names_the_key(make_ctx: Callable[..., Any]) -> None:
    with pytest.raises(ConfigError, match="metric 'rmse' does not apply to a classification"):
        MetricsCheck(MetricsPolicy(thresholds={"rmse": Bound(max=1)})).run(make_ctx())


# ---- segments ----------------------------------------------------------------------------
def test_segments_meet_their_minimum_and_gap(make_ctx: Callable[..., Any]) -> None:
    segs = [
        SegmentPolicy(name="young", filter="age < 25", metric="accuracy", min=0.75, max_gap=0.06),
        SegmentPolicy(name="women", filter='sex == "Female"', metric="roc_auc", min=0.6),
    ]
    ok = SegmentsCheck(segs).run(make_ctx())
    assert ok.status == "pass", ok.message
    rows = {r["segment"]: r for r in ok.details["segments"]}
    assert rows["young"]["rows"] == int((make_ctx().frame["age"] < 25).sum())
    # the unfair model denies release to Black arrestees: that cohort collapses
    black = [SegmentPolicy(name="black", filter='colour == "Black"', min=0.75, max_gap=0.05)]
    bad = SegmentsCheck(black).run(make_ctx("unfair"))
    assert bad.status == "fail" and "black: accuracy" in bad.message


def test_segment_with_few_rows_warns_and_unknown_column_is_named(
    make_ctx: Callable[..., Any],
) -> None:
    tiny = [SegmentPolicy(name="tiny", filter="age > 60", min=0.99, min_rows=500)]
    assert SegmentsCheck(tiny).run(make_ctx()).status == "warn"
    typo = [SegmentPolicy(name="x", filter='colur == "Black"')]
    pattern = r"segments\[0\] \(x\).filter .* colur .*did you mean 'colour'"
    with pytest.raises(ConfigError, match=pattern):
        SegmentsCheck(typo).run(make_ctx())


# ---- fairness ----------------------------------------------------------------------------
FAIR = FairnessPolicy(
    demographic_parity_difference=0.10,
    equalized_odds_difference=0.20,
    min_metric_ratio=0.8,
    counterfactual_max_flip_rate=0.05,
    bins={"age": [25, 40]},
)


def test_fair_model_passes_fairness(make_ctx: Callable[..., Any]) -> None:
    result = FairnessCheck(FAIR).run(make_ctx("fair", champion="unfair"))
    assert result.status == "pass", result.message
    assert set(result.details["attributes"]) == {"colour", "sex", "age"}
    ages = [g["group"] for g in result.details["attributes"]["age"]["groups"]]
    assert sorted(ages) == sorted(["< 25", "25 to <40", "≥ 40"])
    assert result.charts and result.charts[0].startswith("<svg")


def test_unfair_model_fails_parity_and_counterfactual(make_ctx: Callable[..., Any]) -> None:
    result = FairnessCheck(FAIR).run(make_ctx("unfair", champion="fair"))
    assert result.status == "fail"
    dp = fig(result, "colour: demographic parity difference")
    assert dp.ok is False and dp.value > 0.3 and dp.champion < 0.1
    flip = fig(result, "colour: counterfactual flip rate")
    assert flip.ok is False and flip.value > 0.3
    assert fig(result, "sex: demographic parity difference").ok is True
    assert "colour: demographic parity difference" in result.message


def test_fairness_without_protected_attributes_is_skipped(make_ctx: Callable[..., Any]) -> None:
    ctx = make_ctx()
    ctx.dataset_schema = {"columns": []}
    result = FairnessCheck(FairnessPolicy()).run(ctx)
    assert result.status == "skipped" and "datasets.<name>.protected" in result.message
    with pytest.raises(ConfigError, match="did you mean 'colour'"):
        FairnessCheck(FairnessPolicy(attributes=["color"])).run(make_ctx())


# ---- calibration -------------------------------------------------------------------------
def test_calibrated_model_passes_and_miscalibrated_fails(make_ctx: Callable[..., Any]) -> None:
    policy = CalibrationPolicy(max_ece=0.05, max_brier=0.2)
    good = CalibrationCheck(policy).run(make_ctx("fair"))
    assert good.status == "pass", good.message
    bad = CalibrationCheck(policy).run(make_ctx("miscalibrated", champion="fair"))
    assert bad.status == "fail"
    ece = fig(bad, "expected calibration error")
    assert ece.value > 0.15 and ece.champion < 0.05
    assert "<svg" in bad.charts[0] and "reliability" in bad.charts[0]


# ---- robustness --------------------------------------------------------------------------
def test_robust_pipeline_passes_every_corruption(make_ctx: Callable[..., Any]) -> None:
    result = RobustnessCheck(RobustnessPolicy(max_drop=0.05)).run(make_ctx("fair", "boosting"))
    assert result.status == "pass", result.message
    outcomes = {c["corruption"]: c for c in result.details["corruptions"]}
    assert set(outcomes) == {"missing", "noise", "out_of_range", "unseen_category", "wrong_type"}
    # nothing is nullable in the signature: the server would reject these rows with a 4xx
    assert outcomes["missing"]["rejected_share"] > 0.4
    assert outcomes["wrong_type"]["rejected_share"] > 0.4
    assert outcomes["noise"]["rejected_share"] == 0


def test_unseen_categories_are_refused_like_the_server_unless_the_policy_passes_them(
    make_ctx: Callable[..., Any],
) -> None:
    from modelyard.core.input_policy import Effective

    policy = RobustnessPolicy(corruptions=["unseen_category", "noise"])
    ctx = make_ctx("strict_encoder")  # handle_unknown="error": the signature says reject
    assert ctx.input_policy.unseen_categories == "reject"
    guarded = RobustnessCheck(policy).run(ctx)
    rows = {r["corruption"]: r for r in guarded.details["corruptions"]}
    assert rows["unseen_category"]["rejected_share"] > 0 and not rows["unseen_category"]["error"]
    # the project file overrides the policy: now the server hands them to a model that crashes
    forced = make_ctx("strict_encoder")
    forced.input_policy = Effective("pass", "reject", "project file")
    result = RobustnessCheck(policy).run(forced)
    assert result.status == "fail"
    crash = fig(result, "unseen_category: model raised")
    assert crash.ok is False and "ValueError" in (crash.note or "")
    # a pipeline whose encoder ignores unknown values passes them, and they reach it
    tolerant = make_ctx("fair")
    assert tolerant.input_policy.unseen_categories == "pass"
    ok = RobustnessCheck(policy).run(tolerant)
    rows = {r["corruption"]: r for r in ok.details["corruptions"]}
    assert rows["unseen_category"]["rejected_share"] == 0


def test_unvalidated_missing_values_crash_the_model(make_ctx: Callable[..., Any]) -> None:
    policy = RobustnessPolicy(corruptions=["missing"], validate_inputs=False)
    result = RobustnessCheck(policy).run(make_ctx("fair"))
    assert result.status == "fail" and "missing: model raised" in result.message


def test_large_noise_drops_the_metric_beyond_the_limit(make_ctx: Callable[..., Any]) -> None:
    policy = RobustnessPolicy(
        corruptions=["noise"], noise_scale=5.0, max_drop=0.001, metric="roc_auc"
    )
    result = RobustnessCheck(policy).run(make_ctx("fair"))
    assert result.status == "fail" and fig(result, "noise: roc_auc drop").value > 0.001


# ---- schema ------------------------------------------------------------------------------
def test_schema_agreement(
    make_ctx: Callable[..., Any], split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    assert SchemaCheck(SchemaPolicy()).run(make_ctx()).status == "pass"
    _, test = split
    drifted = test.drop(columns=["checks"]).assign(
        colour=test["colour"].replace({"White": "white"}), year=test["year"].astype(str)
    )
    ctx = make_ctx(frame=test)
    ctx.frame = drifted  # the evaluation data no longer matches the signature
    result = SchemaCheck(SchemaPolicy()).run(ctx)
    assert result.status == "fail"
    missing = fig(result, "missing columns")
    assert missing.value == 1 and missing.note == "checks"
    assert fig(result, "type mismatches").note == "year"
    unseen = fig(result, "columns with unseen categories")
    # the fair pipeline one-hot encodes with handle_unknown="ignore": shown, not judged
    assert unseen.note.startswith("colour; the model's policy is pass") and unseen.ok is None


# ---- cost --------------------------------------------------------------------------------
def test_cost_regression_against_a_cheaper_champion(make_ctx: Callable[..., Any]) -> None:
    strict = CostCheck(CostPolicy(max_regression_pct=0.0, rows=2000, repeats=2))
    ctx = make_ctx("boosting", champion="dummy")
    ctx.candidate.size_bytes, ctx.champion.size_bytes = 400_000, 20_000
    result = strict.run(ctx)
    assert result.status == "fail"
    assert fig(result, "size regression vs champion (%)").value == pytest.approx(1900.0)
    assert fig(result, "CPU ms per 1,000 predictions").value > 0
    lenient = CostCheck(CostPolicy(max_regression_pct=1e9, rows=2000, repeats=2)).run(ctx)
    assert lenient.status == "pass"


# ---- business KPI ------------------------------------------------------------------------
def test_kpi_matrix_value_and_drop_vs_champion(make_ctx: Callable[..., Any]) -> None:
    matrix = {"tp": 10.0, "fp": -40.0, "fn": -5.0, "tn": 0.0}
    ctx = make_ctx("unfair", champion="fair")
    result = KpiCheck(KpiPolicy(matrix=matrix, max_drop_pct=5)).run(ctx)  # type: ignore[arg-type]
    y = (ctx.frame["released"] == "Yes").to_numpy(int)
    p = (ctx.candidate.model.predict_proba(ctx.frame[ctx.features])[:, 1] >= 0.5).astype(int)
    tp, fp = np.sum((y == 1) & (p == 1)), np.sum((y == 0) & (p == 1))
    fn = np.sum((y == 1) & (p == 0))
    expected = (10 * tp - 40 * fp - 5 * fn) / len(y) * 1000
    assert fig(result, "value per 1,000 predictions").value == pytest.approx(expected, abs=1e-9)
    assert result.status == "fail" and "drop vs champion" in result.message
    fair = KpiCheck(KpiPolicy(matrix=matrix, max_drop_pct=5))  # type: ignore[arg-type]
    assert fair.run(make_ctx("fair", champion="unfair")).status == "pass"


# ---- explainability ----------------------------------------------------------------------
def test_permutation_importance_is_stored_as_an_artifact(make_ctx: Callable[..., Any]) -> None:
    import json

    stored: dict[str, bytes] = {}

    def put(data: bytes, kind: str) -> str:
        stored[kind] = data
        return "d" * 64

    ctx = make_ctx("unfair")
    ctx.put_artifact = put
    result = ExplainCheck(ExplainPolicy(n_repeats=3, max_rows=800)).run(ctx)
    assert result.status == "pass" and result.artifacts == {"permutation_importance": "d" * 64}
    data = json.loads(stored["explain"])
    assert data["features"][0]["feature"] == "colour"  # the unfair model leans on colour


# ---- load --------------------------------------------------------------------------------
def test_load_is_skipped_without_a_runner_and_judged_with_one(make_ctx: Callable[..., Any]) -> None:
    ctx = make_ctx()
    ctx.sla_p99_ms = 50.0
    set_load_runner(None)
    skipped = LoadCheck(LoadPolicy()).run(ctx)
    assert skipped.status == "skipped" and "set_load_runner" in skipped.message
    seen: list[LoadRequest] = []

    def runner(req: LoadRequest) -> LoadResult:
        seen.append(req)
        return LoadResult(p50_ms=4.0, p99_ms=80.0, throughput_rps=900.0, peak_memory_mb=210.0)

    result = LoadCheck(LoadPolicy(concurrency=4), runner=runner).run(ctx)
    assert result.status == "fail" and "latency p99 (ms) 80" in result.message  # SLA 50 ms
    assert seen[0].concurrency == 4 and len(seen[0].rows) == 200
    set_load_runner(runner)
    try:
        ok = LoadCheck(LoadPolicy(max_p99_ms=100)).run(ctx)
    finally:
        set_load_runner(None)
    assert ok.status == "pass"


def test_tree_models_also_get_tree_shap_values(make_ctx: Callable[..., Any]) -> None:
    import json

    stored: list[bytes] = []

    def put(data: bytes, kind: str) -> str:
        stored.append(data)
        return f"{len(stored):064d}"

    ctx = make_ctx("boosting")
    ctx.put_artifact = put
    result = ExplainCheck(ExplainPolicy(n_repeats=2, max_rows=400)).run(ctx)
    assert result.status == "pass" and set(result.artifacts) == {"permutation_importance", "shap"}
    shap_data = json.loads(stored[-1])
    assert shap_data["method"] == "tree_shap" and shap_data["rows"] == 500
    values = [f["mean_abs_shap"] for f in shap_data["features"]]
    assert values == sorted(values, reverse=True) and values[0] > 0
