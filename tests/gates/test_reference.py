"""Gate figures agree with the reference libraries (scikit-learn, Fairlearn) to 1e-9."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import sklearn.metrics as skm
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
)
from sklearn.calibration import calibration_curve

from modelyard.core.calibration import reliability_bins
from modelyard.core.gate_policy import Bound, CalibrationPolicy, FairnessPolicy, MetricsPolicy
from modelyard.gates.base import CheckResult, Figure
from modelyard.gates.checks.calibration import CalibrationCheck
from modelyard.gates.checks.fairness import FairnessCheck
from modelyard.gates.checks.metrics import MetricsCheck

TOL = 1e-9


def _figure(result: CheckResult, name: str) -> Figure:
    return next(f for f in result.figures if f.name == name)


def test_metrics_match_scikit_learn(make_ctx: Callable[..., Any]) -> None:
    ctx = make_ctx("boosting", champion="fair")
    names = [
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "average_precision",
        "log_loss",
        "brier",
        "selection_rate",
    ]
    policy = MetricsPolicy(thresholds={n: Bound(min=-1e9) for n in names})
    result = MetricsCheck(policy).run(ctx)
    y = (ctx.frame["released"] == "Yes").to_numpy(int)
    for side, model in (("candidate", ctx.candidate.model), ("champion", ctx.champion.model)):
        proba = model.predict_proba(ctx.frame[ctx.features])[:, 1]
        labels = (proba >= 0.5).astype(int)
        expected = {
            "accuracy": skm.accuracy_score(y, labels),
            "balanced_accuracy": skm.balanced_accuracy_score(y, labels),
            "precision": skm.precision_score(y, labels),
            "recall": skm.recall_score(y, labels),
            "f1": skm.f1_score(y, labels),
            "roc_auc": skm.roc_auc_score(y, proba),
            "average_precision": skm.average_precision_score(y, proba),
            "log_loss": skm.log_loss(y, proba),
            "brier": skm.brier_score_loss(y, proba),
            "selection_rate": labels.mean(),
        }
        for name, value in expected.items():
            fig = _figure(result, name)
            got = fig.value if side == "candidate" else fig.champion
            assert got == pytest.approx(value, abs=TOL), (side, name)


def test_fairness_matches_fairlearn(make_ctx: Callable[..., Any]) -> None:
    ctx = make_ctx("unfair", champion="fair")
    policy = FairnessPolicy(
        attributes=["colour", "sex", "age"], bins={"age": [25, 40]}, min_metric_ratio=0.0
    )
    result = FairnessCheck(policy).run(ctx)
    y = (ctx.frame["released"] == "Yes").to_numpy(int)
    for side, model in (("candidate", ctx.candidate.model), ("champion", ctx.champion.model)):
        labels = (model.predict_proba(ctx.frame[ctx.features])[:, 1] >= 0.5).astype(int)
        for attr in ("colour", "sex", "age"):
            groups = ctx.frame[attr]
            if attr == "age":
                groups = np.select([groups < 25, groups < 40], ["young", "mid"], "old")
            dp = demographic_parity_difference(y, labels, sensitive_features=groups)
            eo = equalized_odds_difference(y, labels, sensitive_features=groups)
            ratio = MetricFrame(
                metrics=skm.accuracy_score, y_true=y, y_pred=labels, sensitive_features=groups
            ).ratio(method="between_groups")
            for name, value in (
                (f"{attr}: demographic parity difference", dp),
                (f"{attr}: equalized odds difference", eo),
                (f"{attr}: accuracy ratio (min/max group)", ratio),
            ):
                fig = _figure(result, name)
                got = fig.value if side == "candidate" else fig.champion
                assert got == pytest.approx(value, abs=TOL), (side, name)


def test_reliability_bins_match_calibration_curve(make_ctx: Callable[..., Any]) -> None:
    ctx = make_ctx("miscalibrated")
    y = (ctx.frame["released"] == "Yes").to_numpy(int)
    proba = ctx.candidate.model.predict_proba(ctx.frame[ctx.features])[:, 1]
    for bins in (5, 10, 15):
        prob_true, prob_pred = calibration_curve(y, proba, n_bins=bins, strategy="uniform")
        pred, obs, counts = reliability_bins(y, proba, bins)
        np.testing.assert_allclose(pred, prob_pred, atol=TOL, rtol=0)
        np.testing.assert_allclose(obs, prob_true, atol=TOL, rtol=0)
        assert counts.sum() == len(y)
    result = CalibrationCheck(CalibrationPolicy(bins=10)).run(ctx)
    assert _figure(result, "brier score").value == pytest.approx(
        skm.brier_score_loss(y, proba), abs=TOL
    )
    prob_true, prob_pred = calibration_curve(y, proba, n_bins=10)
    edges = np.linspace(0, 1, 11)
    counts = np.bincount(np.searchsorted(edges[1:-1], proba), minlength=10)
    counts = counts[counts > 0]
    ece = float(np.sum(counts / len(y) * np.abs(prob_true - prob_pred)))
    assert _figure(result, "expected calibration error").value == pytest.approx(ece, abs=TOL)


def test_regression_metrics_match_scikit_learn() -> None:
    from modelyard.gates.metrics import Predictions, compute

    rng = np.random.default_rng(1)
    y = rng.normal(10, 3, 500)
    pred = y + rng.normal(0, 1, 500)
    p = Predictions(pred)
    assert compute("rmse", y, p) == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)), abs=TOL)
    assert compute("mae", y, p) == pytest.approx(skm.mean_absolute_error(y, pred), abs=TOL)
    assert compute("r2", y, p) == pytest.approx(skm.r2_score(y, pred), abs=TOL)
    assert compute("mape", y, p) == pytest.approx(
        skm.mean_absolute_percentage_error(y, pred), abs=TOL
    )
