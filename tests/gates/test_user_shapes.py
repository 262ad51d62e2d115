"""Gates on shapes the demo never has: a champion that reads other columns than the candidate,
the four-fifths rule (selection-rate ratio), and protected groups of a handful of rows. Figures
are recomputed independently with scikit-learn and Fairlearn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, demographic_parity_difference, selection_rate
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from modelyard.core.gate_policy import (
    Bound,
    CostPolicy,
    FairnessPolicy,
    MetricsPolicy,
    RobustnessPolicy,
    SegmentPolicy,
)
from modelyard.gates.checks.calibration import CalibrationCheck
from modelyard.gates.checks.cost import CostCheck
from modelyard.gates.checks.fairness import FairnessCheck
from modelyard.gates.checks.metrics import MetricsCheck
from modelyard.gates.checks.robustness import RobustnessCheck
from modelyard.gates.checks.segments import SegmentsCheck
from modelyard.gates.context import GateContext, Side
from tests.gates.conftest import FEATURES, _y


def fig(result: Any, name: str) -> Any:
    return next(f for f in result.figures if f.name == name)


@pytest.fixture(scope="module")
def blind_model(split: tuple[pd.DataFrame, pd.DataFrame]) -> Any:
    """A candidate that drops two protected attributes the champion reads (colour and sex)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train, _ = split
    cols = ["year", "age", "employed", "citizen", "checks"]
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["employed", "citizen"]),
            ("num", StandardScaler(), ["year", "age", "checks"]),
        ]
    )
    return Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=1000))]).fit(
        train[cols], _y(train)
    )


def test_a_champion_on_other_columns_is_scored_on_its_own_columns_by_every_check(
    make_ctx: Callable[..., Any],
    models: dict[str, Any],
    blind_model: Any,
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, test = split
    ctx = make_ctx("fair")
    models_backup = ctx.candidate.model
    # the candidate is the blind model; the champion the fair one, reading all seven columns
    ctx = GateContext(
        frame=test,
        target="released",
        candidate=Side("candidate", blind_model, "arrests@2", 90_000),
        champion=Side("champion", models_backup, "arrests@1", 100_000),
        policy=ctx.policy,
        dataset_schema=ctx.dataset_schema,
    )
    assert ctx.candidate.features == ["year", "age", "employed", "citizen", "checks"]
    assert ctx.champion is not None and ctx.champion.features == FEATURES
    metrics = MetricsCheck(
        MetricsPolicy(thresholds={"roc_auc": Bound(min=0.5)}, non_inferiority={"roc_auc": 0.2})
    )
    result = metrics.run(ctx)
    assert result.status == "pass", result.message
    champ_auc = roc_auc_score(_y(test), models_backup.predict_proba(test[FEATURES])[:, 1])
    cols = ctx.candidate.features
    cand_auc = roc_auc_score(_y(test), blind_model.predict_proba(test[cols])[:, 1])
    assert result.details["champion"]["roc_auc"] == pytest.approx(champ_auc, abs=1e-12)
    assert result.details["candidate"]["roc_auc"] == pytest.approx(cand_auc, abs=1e-12)
    for check in (
        FairnessCheck(FairnessPolicy(demographic_parity_difference=0.9)),
        RobustnessCheck(RobustnessPolicy(max_rows=300)),
        # timed on a shared machine: the verdict on speed is not what this test is about
        CostCheck(CostPolicy(rows=500, repeats=1, max_regression_pct=1e9)),
        CalibrationCheck(),
        SegmentsCheck([SegmentPolicy(name="young", filter="age < 25", metric="roc_auc")]),
    ):
        outcome = check.run(ctx)
        assert outcome.status in ("pass", "warn"), (check.name, outcome.message)


def test_selection_rate_ratio_is_the_four_fifths_rule_as_fairlearn_computes_it(
    make_ctx: Callable[..., Any], split: tuple[pd.DataFrame, pd.DataFrame], models: dict[str, Any]
) -> None:
    _, test = split
    policy = FairnessPolicy(attributes=["colour"], metric="selection_rate", min_metric_ratio=0.8)
    result = FairnessCheck(policy).run(make_ctx("unfair"))
    labels = models["unfair"].predict(test[FEATURES])
    frame = MetricFrame(
        metrics=selection_rate,
        y_true=_y(test),
        y_pred=labels,
        sensitive_features=test["colour"],
    )
    ratio = fig(result, "colour: selection_rate ratio (min/max group)")
    assert ratio.value == pytest.approx(frame.ratio(method="between_groups"), abs=1e-9)
    assert ratio.ok is False and result.status == "fail"  # the unfair model denies Black arrestees
    fair = FairnessCheck(policy).run(make_ctx("fair"))
    assert fig(fair, "colour: selection_rate ratio (min/max group)").ok is True


def test_groups_of_a_few_rows_are_shown_not_judged_and_the_check_warns(
    make_ctx: Callable[..., Any], split: tuple[pd.DataFrame, pd.DataFrame], models: dict[str, Any]
) -> None:
    _, test = split
    frame = test.copy()
    frame["colour"] = frame["colour"].astype(object)
    few = frame.index[:6]
    frame.loc[few, "colour"] = "Other"  # a protected group of six rows (unseen by the encoder)
    ctx = make_ctx("fair", frame=frame)
    policy = FairnessPolicy(attributes=["colour"], demographic_parity_difference=0.2)
    result = FairnessCheck(policy).run(ctx)
    groups = {g["group"]: g for g in result.details["attributes"]["colour"]["groups"]}
    assert groups["Other"]["rows"] == 6 and groups["Other"]["judged"] is False
    assert groups["Black"]["judged"] and groups["White"]["judged"]
    big = frame["colour"] != "Other"
    labels = models["fair"].predict(frame[FEATURES])
    expected = demographic_parity_difference(
        _y(frame)[big], labels[big], sensitive_features=frame.loc[big, "colour"]
    )
    dp = fig(result, "colour: demographic parity difference")
    assert dp.value == pytest.approx(expected, abs=1e-9) and "Other" in (dp.note or "")
    assert result.status == "warn" and "Other" in result.message
    # the counterfactual flip rate is broken down per group of the rows moved
    assert all(np.isfinite(g["counterfactual_flip_rate"]) for g in groups.values())


def test_with_fewer_than_two_judgeable_groups_the_figures_are_not_judged(
    make_ctx: Callable[..., Any],
) -> None:
    policy = FairnessPolicy(
        attributes=["colour"], demographic_parity_difference=0.01, min_group_rows=100_000
    )
    result = FairnessCheck(policy).run(make_ctx("unfair"))
    dp = fig(result, "colour: demographic parity difference")
    assert dp.ok is None and "not judged" in (dp.note or "")
    assert result.status == "warn"


@pytest.mark.parametrize("raw_side", ["champion", "candidate"])
def test_a_champion_and_candidate_that_name_the_positive_class_differently_are_each_read_right(
    make_ctx: Callable[..., Any],
    models: dict[str, Any],
    split: tuple[pd.DataFrame, pd.DataFrame],
    raw_side: str,
) -> None:
    """One trained on the raw labels, whose positive class sorts first (classes ["Released",
    "held"]), the other on released == "Yes" (classes [0, 1], as XGBoost needs): each model's
    positive column is its own. Before, the champion was read with the candidate's index, and
    its roc_auc came out inverted."""
    from modelyard.core.gate_policy import GatePolicy
    from tests.gates.conftest import pipeline

    train, test = split
    words = {"Yes": "Released", "No": "held"}
    raw = pipeline(LogisticRegression(max_iter=1000)).fit(
        train[FEATURES], train["released"].map(words)
    )
    assert list(raw.classes_) == ["Released", "held"]
    both = {"raw": raw, "encoded": models["fair"]}
    candidate, champion = ("encoded", "raw") if raw_side == "champion" else ("raw", "encoded")
    frame = test.assign(released=test["released"].map(words))
    ctx = GateContext(
        frame=frame,
        target="released",
        candidate=Side("candidate", both[candidate], "arrests@2", 100_000),
        champion=Side("champion", both[champion], "arrests@1", 100_000),
        policy=GatePolicy(positive_label="Released"),
        dataset_schema=make_ctx("fair").dataset_schema,
    )
    result = MetricsCheck(MetricsPolicy(thresholds={"roc_auc": Bound(min=0.5)})).run(ctx)
    y = _y(test)
    for side, name in (("candidate", candidate), ("champion", champion)):
        model = both[name]
        column = list(model.classes_).index("Released" if name == "raw" else 1)
        auc = roc_auc_score(y, model.predict_proba(test[FEATURES])[:, column])
        assert result.details[side]["roc_auc"] == pytest.approx(auc, abs=1e-12), side
        assert auc > 0.6
