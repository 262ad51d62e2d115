"""Out-of-range and sentinel signals: the issue's overflow example, in raw and sketch mode."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from modelyard.core.monitor_config import AlertRule
from modelyard.monitoring import stats
from modelyard.monitoring.baseline import Baseline
from modelyard.monitoring.drift import DriftResult, DriftSettings, compare_baseline, compare_frames
from modelyard.monitoring.evaluate import drift_signals

FAST = DriftSettings(multivariate=False, n_jobs=1)
N = 100_000


def frames(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"x": rng.uniform(30, 75, N), "k": rng.poisson(3, N).astype(float)})
    cur = pd.DataFrame({"x": rng.uniform(30, 75, N), "k": rng.poisson(3, N).astype(float)})
    return ref, cur


def compare(ref: pd.DataFrame, cur: pd.DataFrame, mode: str) -> DriftResult:
    if mode == "raw":
        return compare_frames(ref, cur, FAST)
    base = Baseline.from_frame(ref)
    window = base.new_window()
    window.update_batch(cur)
    return compare_baseline(base, window, FAST)


def fired(result: DriftResult, name: str) -> set[str]:
    feature = next(f for f in result.features if f.name == name)
    return {s.signal for s in feature.signals if s.drifted}


@pytest.mark.parametrize("mode", ["raw", "sketch"])
def test_half_a_percent_overflow_sentinel_is_flagged_at_100k(mode: str) -> None:
    ref, cur = frames()
    hit = np.random.default_rng(1).random(N) < 0.005
    cur.loc[hit, "x"] = 1e6
    result = compare(ref, cur, mode)
    assert result.drifted_features == ["x"]
    assert fired(result, "x") == {"out_of_range", "sentinel"}  # KS alone cannot see 0.5 %
    x = next(f for f in result.features if f.name == "x")
    assert x.tests["out_of_range"].detail["above"] == hit.sum()
    assert x.tests["out_of_range"].statistic == pytest.approx(hit.mean())
    assert x.tests["sentinel"].detail["value"] == 1e6
    signals = drift_signals(result)
    assert signals["feature.x.out_of_range_share"] == pytest.approx(hit.mean())
    assert signals["feature.x.sentinel_share"] == pytest.approx(hit.mean())
    AlertRule(name="overflow", signal="feature.x.out_of_range_share", threshold=0.001)


def test_an_in_range_sentinel_is_found_in_raw_mode_only() -> None:
    ref, cur = frames(2)
    cur.loc[np.random.default_rng(3).random(N) < 0.01, "x"] = 50.0  # a default inside the range
    assert fired(compare(ref, cur, "raw"), "x") == {"sentinel"}
    sketch = compare(ref, cur, "sketch")  # bins, not values: the docs say so
    assert "sentinel" not in next(f for f in sketch.features if f.name == "x").tests


def test_out_of_range_values_that_differ_are_not_a_sentinel_in_sketch_mode() -> None:
    ref, cur = frames(4)
    hit = np.random.default_rng(5).random(N) < 0.01
    cur.loc[hit, "x"] = np.random.default_rng(6).uniform(80, 90, hit.sum())
    result = compare(ref, cur, "sketch")
    assert fired(result, "x") >= {"out_of_range"}
    assert "sentinel" not in next(f for f in result.features if f.name == "x").tests


def test_a_discrete_column_repeats_values_without_a_sentinel() -> None:
    ref, cur = frames(7)
    k = next(f for f in compare(ref, cur, "raw").features if f.name == "k")
    assert not k.drifted
    assert "sentinel" not in k.tests or k.tests["sentinel"].p_value == pytest.approx(1.0)


def test_exceedance_pvalue_is_the_chance_the_most_extreme_values_are_current() -> None:
    # beyond the reference's maximum: the x largest pooled values are all current ones
    n, m = 30, 20
    for x in range(0, 6):
        expected = math.comb(m, x) / math.comb(n + m, x)
        assert stats.exceedance_pvalue(x, 0, n, m) == pytest.approx(expected)
    # by simulation, with the reference holding 2 values beyond a data-defined edge
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(4000):
        r, c = rng.random(n), rng.random(m)
        edge = np.sort(r)[-3]  # 2 reference values above it
        hits += int(np.sum(c > edge) >= 3)
    assert hits / 4000 == pytest.approx(stats.exceedance_pvalue(3, 2, n, m), abs=0.02)
