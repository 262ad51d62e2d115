"""Trust: no drift reported on same-distribution samples (at most the declared level), and each
injected change (location, scale, missingness, unseen category, frequency) detected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelyard.monitoring.baseline import Baseline
from modelyard.monitoring.drift import DriftSettings, compare_baseline, compare_frames

ALPHA = 0.05
FAST = DriftSettings(alpha=ALPHA, multivariate=False, n_jobs=1)
MANY = [f"m{i:03d}" for i in range(300)]
MANY_P = (1 / np.arange(1, 301)) / (1 / np.arange(1, 301)).sum()


def draw(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.normal(0, 1, n)
    miss = rng.random(n) < 0.05
    return pd.DataFrame(
        {
            "normal": x,
            "skewed": rng.lognormal(0, 1, n),
            "counts": rng.poisson(3, n).astype(float),
            "with_missing": np.where(miss, np.nan, rng.gamma(2, 1, n)),
            "few": rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]),
            "many": rng.choice(MANY, n, p=MANY_P),  # 300 levels, sparse at small n
        }
    )


def max_false_alarms(trials: int, level: float = ALPHA) -> int:
    """Largest count still consistent with a rate <= level (one-sided binomial, 1 % risk)."""
    return int(stats.binom.ppf(0.99, trials, level))


@pytest.mark.parametrize("n", [200, 1000, pytest.param(20_000, marks=pytest.mark.slow)])
def test_false_alarm_rate_raw_mode_at_or_below_alpha(n: int) -> None:
    trials = 40 if n < 20_000 else 25
    rng = np.random.default_rng(n)
    alarms = sum(compare_frames(draw(rng, n), draw(rng, n), FAST).drifted for _ in range(trials))
    assert alarms <= max_false_alarms(trials), f"{alarms}/{trials} false alarms at n={n}"


@pytest.mark.parametrize("n", [500, pytest.param(20_000, marks=pytest.mark.slow)])
def test_false_alarm_rate_sketch_mode_at_or_below_alpha(n: int) -> None:
    trials = 40
    rng = np.random.default_rng(100 + n)
    alarms = 0
    for _ in range(trials):
        base = Baseline.from_frame(draw(rng, n))
        window = base.new_window()
        window.update_batch(draw(rng, n))
        alarms += compare_baseline(base, window, FAST).drifted
    assert alarms <= max_false_alarms(trials), f"{alarms}/{trials} false alarms at n={n}"


@pytest.mark.slow
def test_false_alarm_rate_with_multivariate_test() -> None:
    trials = 20
    rng = np.random.default_rng(7)
    s = DriftSettings(alpha=ALPHA, multivariate_sample=1000, n_jobs=1)
    alarms = sum(compare_frames(draw(rng, 1500), draw(rng, 1500), s).drifted for _ in range(trials))
    assert alarms <= max_false_alarms(trials)


def _inject(kind: str, df: pd.DataFrame, rng: np.random.Generator) -> tuple[str, str]:
    n = len(df)
    if kind == "location":
        df["normal"] = df["normal"] + 0.5
        return "normal", "distribution"
    if kind == "scale":
        df["normal"] = df["normal"] * 1.6
        return "normal", "distribution"
    if kind == "missingness":
        df.loc[rng.random(n) < 0.12, "skewed"] = np.nan
        return "skewed", "missingness"
    if kind == "unseen":
        df.loc[rng.random(n) < 0.05, "few"] = "brand-new"
        return "few", "new_categories"
    if kind == "frequency":
        df["few"] = rng.choice(["a", "b", "c"], n, p=[0.4, 0.35, 0.25])
        return "few", "distribution"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["location", "scale", "missingness", "unseen", "frequency"])
@pytest.mark.parametrize("mode", ["raw", "sketch"])
def test_injected_shift_detected(kind: str, mode: str) -> None:
    rng = np.random.default_rng(42)
    ref, cur = draw(rng, 3000), draw(rng, 3000)
    column, signal = _inject(kind, cur, rng)
    if mode == "raw":
        result = compare_frames(ref, cur, FAST)
    else:
        base = Baseline.from_frame(ref)
        window = base.new_window()
        window.update_batch(cur)
        result = compare_baseline(base, window, FAST)
    assert result.drifted_features == [column], result.drifted_features
    feature = next(f for f in result.features if f.name == column)
    assert signal in [s.signal for s in feature.signals if s.drifted]


def test_trivial_shift_at_large_n_is_significant_but_not_drift() -> None:
    """A 0.02-std shift on a million rows: KS p-value tiny, effect below the practical floor."""
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 1_000_000)})
    cur = pd.DataFrame({"x": rng.normal(0.02, 1, 1_000_000)})
    feature = compare_frames(ref, cur, FAST).features[0]
    assert feature.tests["ks"].p_value is not None and feature.tests["ks"].p_value < 1e-6
    assert not feature.drifted


def test_overrides_per_feature() -> None:
    rng = np.random.default_rng(9)
    ref, cur = draw(rng, 4000), draw(rng, 4000)
    cur["normal"] = cur["normal"] + 0.15  # below the default 0.1-std... effect ~0.15: drift
    default = compare_frames(ref, cur, FAST)
    assert "normal" in default.drifted_features
    lenient = DriftSettings.from_dict(
        {"multivariate": False, "overrides": {"normal": {"test": "psi", "threshold": 0.25}}}
    )
    assert "normal" not in compare_frames(ref, cur, lenient).drifted_features
    with pytest.raises(ValueError, match="unknown drift test"):
        DriftSettings.from_dict({"overrides": {"normal": {"test": "nope"}}})
    with pytest.raises(ValueError, match="unknown drift setting"):
        DriftSettings.from_dict({"alpah": 0.1})


def test_verdicts_are_deterministic() -> None:
    rng = np.random.default_rng(1)
    ref, cur = draw(rng, 800), draw(rng, 800)
    s = DriftSettings(multivariate_sample=500, n_jobs=2)
    a, b = compare_frames(ref, cur, s).to_dict(), compare_frames(ref, cur, s).to_dict()
    a.pop("elapsed_s"), b.pop("elapsed_s")
    assert a == b


@pytest.mark.parametrize("mode", ["raw", "sketch"])
def test_prediction_drift_reported_apart_from_features(mode: str) -> None:
    rng = np.random.default_rng(21)
    ref, cur = draw(rng, 3000), draw(rng, 3000)
    ref_pred, cur_pred = rng.beta(2, 5, 3000), rng.beta(3, 4, 3000)  # scores moved up
    if mode == "raw":
        result = compare_frames(
            ref.assign(score=ref_pred), cur.assign(score=cur_pred), FAST, prediction="score"
        )
    else:
        base = Baseline.from_frame(ref, prediction=ref_pred)
        window = base.new_window()
        window.update_batch(cur, predictions=cur_pred)
        result = compare_baseline(base, window, FAST)
    assert result.prediction is not None and result.prediction.drifted
    assert result.drifted_features == []


def test_every_built_in_drift_test_is_documented() -> None:
    from pathlib import Path

    from modelyard.monitoring import drift_tests

    docs = (Path(__file__).parents[2] / "docs" / "monitoring.md").read_text()
    for name in drift_tests.known_tests():
        assert isinstance(drift_tests.get_test(name), drift_tests.DriftTest)
        assert f"`{name}`" in docs, f"drift test {name!r} is not in docs/monitoring.md"
