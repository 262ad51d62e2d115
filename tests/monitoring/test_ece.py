"""One expected calibration error: the gate's figure, the live one and merged windows agree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve

from modelyard.core.calibration import CalibrationCounts, expected_calibration_error
from modelyard.gates.checks import calibration as gate_calibration
from modelyard.monitoring import quality


def test_scores_on_a_bin_edge_fall_in_the_bin_below_in_both_layers() -> None:
    # the example: 0.5 sits on an inner edge, so it and 0.55 are in different bins
    y, score = np.array([0, 1]), np.array([0.5, 0.55])
    assert expected_calibration_error(y, score) == pytest.approx(0.475)
    assert gate_calibration.expected_calibration_error is expected_calibration_error
    assert quality.CalibrationCounts is CalibrationCounts
    prob_true, prob_pred = calibration_curve(y, score, n_bins=10, strategy="uniform")
    assert prob_pred.tolist() == pytest.approx([0.5, 0.55])
    assert prob_true.tolist() == [0.0, 1.0]


def test_merging_needs_the_same_bins() -> None:
    with pytest.raises(ValueError, match="10 bins with 5"):
        CalibrationCounts.empty(10) + CalibrationCounts.empty(5)
    assert np.isnan(CalibrationCounts.empty().ece())


scores = st.one_of(
    st.floats(min_value=0.0, max_value=1.0),
    st.sampled_from([i / 10 for i in range(11)] + [i / 20 for i in range(21)]),  # bin edges
)


@settings(max_examples=200, deadline=None)
@given(
    windows=st.lists(
        st.lists(st.tuples(st.integers(0, 1), scores), max_size=40), min_size=1, max_size=8
    ),
    bins=st.integers(min_value=2, max_value=20),
)
def test_ece_of_merged_window_counts_equals_the_batch_figure(
    windows: list[list[tuple[int, float]]], bins: int
) -> None:
    merged = CalibrationCounts.empty(bins)
    for rows in windows:
        y = np.array([r[0] for r in rows], dtype=float)
        s = np.array([r[1] for r in rows], dtype=float)
        merged = merged + CalibrationCounts.of(y, s, bins)
    everything = [r for rows in windows for r in rows]
    y_all = np.array([r[0] for r in everything], dtype=float)
    s_all = np.array([r[1] for r in everything], dtype=float)
    batch = expected_calibration_error(y_all, s_all, bins)
    if not everything:
        assert np.isnan(merged.ece()) and np.isnan(batch)
        return
    assert merged.ece() == pytest.approx(batch, abs=1e-12)
    assert merged.rows.sum() == len(everything)
