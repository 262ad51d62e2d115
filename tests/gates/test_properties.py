"""Invariants of the metric code, checked on generated data (hypothesis)."""

from __future__ import annotations

import numpy as np
from fairlearn.metrics import demographic_parity_difference
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.core.calibration import expected_calibration_error, reliability_bins
from modelyard.gates.checks.kpi import matrix_value_per_1k

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, bins=st.integers(min_value=2, max_value=20))
def test_perfectly_calibrated_predictor_has_ece_near_zero(seed: int, bins: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200_000
    proba = rng.random(n)
    y = (rng.random(n) < proba).astype(int)  # outcomes drawn with exactly the predicted odds
    # sampling noise only: ~ sqrt(bins / n) per bin
    assert expected_calibration_error(y, proba, bins) < 0.01


@settings(max_examples=60, deadline=None)
@given(
    seed=seeds,
    n=st.integers(min_value=1, max_value=500),
    bins=st.integers(min_value=2, max_value=50),
)
def test_ece_is_between_zero_and_one(seed: int, n: int, bins: int) -> None:
    rng = np.random.default_rng(seed)
    proba = rng.random(n) ** rng.uniform(0.1, 5)
    y = rng.integers(0, 2, n)
    ece = expected_calibration_error(y, proba, bins)
    assert 0.0 <= ece <= 1.0
    pred, _obs, counts = reliability_bins(y, proba, bins)
    assert counts.sum() == n and ((pred >= 0) & (pred <= 1)).all()


@settings(max_examples=40, deadline=None)
@given(seed=seeds, c=st.floats(min_value=0, max_value=1))
def test_constant_predictor_ece_is_the_base_rate_gap(seed: int, c: float) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    assert abs(expected_calibration_error(y, np.full(300, c)) - abs(y.mean() - c)) < 1e-12


@settings(max_examples=25, deadline=None)
@given(seed=seeds, n=st.integers(min_value=4, max_value=400))
def test_demographic_parity_difference_is_symmetric(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    pred = rng.integers(0, 2, n)
    groups = np.where(rng.random(n) < 0.5, "a", "b")
    groups[:2] = ["a", "b"]
    swapped = np.where(groups == "a", "b", "a")
    d1 = demographic_parity_difference(y, pred, sensitive_features=groups)
    d2 = demographic_parity_difference(y, pred, sensitive_features=swapped)
    order = rng.permutation(n)
    d3 = demographic_parity_difference(y[order], pred[order], sensitive_features=groups[order])
    assert abs(d1 - d2) < 1e-12 and abs(d1 - d3) < 1e-12
    rates = [pred[groups == g].mean() for g in ("a", "b")]
    assert abs(d1 - abs(rates[0] - rates[1])) < 1e-12


@settings(max_examples=60, deadline=None)
@given(seed=seeds, n=st.integers(min_value=1, max_value=300))
def test_kpi_matrix_is_linear_in_outcome_values(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    y, pred = rng.integers(0, 2, n), rng.integers(0, 2, n)
    a = {"tp": 3.0, "fp": -2.0, "fn": -1.0, "tn": 0.5}
    b = {"tp": 1.0, "fp": 1.0, "fn": 1.0, "tn": 1.0}
    both = {k: a[k] + b[k] for k in a}
    va, vb, vab = (matrix_value_per_1k(y, pred, m) for m in (a, b, both))
    assert abs(vab - (va + vb)) < 1e-9
    assert abs(vb - 1000.0) < 1e-9  # every prediction worth 1 → 1,000 per 1,000


@settings(max_examples=25, deadline=None)
@given(
    seed=seeds,
    n=st.integers(min_value=2, max_value=300),
    k=st.integers(min_value=2, max_value=5),
)
def test_group_figures_equal_fairlearn_on_any_data(seed: int, n: int, k: int) -> None:
    """Including groups with no positives or no negatives (rates with empty denominators)."""
    import pandas as pd
    from fairlearn.metrics import equalized_odds_difference

    from modelyard.gates.checks.fairness import _between, group_rates

    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rng.random()).astype(int)
    pred = (rng.random(n) < rng.random()).astype(int)
    groups = pd.Series(rng.integers(0, k, n).astype(str))
    table = group_rates(y, pred, groups)
    dp = _between(table["selection_rate"])
    eo = max(_between(table["true_positive_rate"]), _between(table["false_positive_rate"]))
    assert abs(dp - demographic_parity_difference(y, pred, sensitive_features=groups)) < 1e-9
    assert abs(eo - equalized_odds_difference(y, pred, sensitive_features=groups)) < 1e-9
