"""Raw-mode statistics agree with scipy to 1e-9; sketch-mode figures stay within their bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelyard.monitoring import drift_tests
from modelyard.monitoring.baseline import Baseline
from modelyard.monitoring.columns import ColumnPair, pair_from_counts, pair_from_series
from modelyard.monitoring.stats import holm, holm_adjusted

TOL = 1e-9
SAMPLES = {
    "normal": lambda r, n: r.normal(size=n),
    "shifted": lambda r, n: r.normal(0.2, 1.3, size=n),
    "ties": lambda r, n: r.integers(0, 6, size=n).astype(float),
    "lognormal": lambda r, n: r.lognormal(0, 1.5, size=n),
    "bimodal": lambda r, n: np.where(r.random(n) < 0.3, r.normal(-3, 0.5, n), r.normal(2, 1, n)),
}


def _run(pair: ColumnPair, name: str) -> drift_tests.TestResult:
    result = drift_tests.get_test(name)(pair, {"permutations": 0, "seed": 0})
    assert result is not None, f"{name} found nothing to compare"
    return result


PAIRS = [("normal", "shifted"), ("ties", "ties"), ("lognormal", "bimodal"), ("normal", "normal")]


@pytest.mark.parametrize("n,m", [(50, 80), (3000, 2000), (30_000, 12_000)])
@pytest.mark.parametrize("ref_kind,cur_kind", PAIRS)
def test_numeric_raw_agrees_with_scipy(n: int, m: int, ref_kind: str, cur_kind: str) -> None:
    rng = np.random.default_rng(n + m)
    ref, cur = SAMPLES[ref_kind](rng, n), SAMPLES[cur_kind](rng, m)
    pair = pair_from_series("x", pd.Series(ref), pd.Series(cur), "numeric")
    ks, expected = _run(pair, "ks"), stats.ks_2samp(ref, cur)
    assert ks.statistic == pytest.approx(expected.statistic, abs=TOL)
    assert ks.p_value == pytest.approx(expected.pvalue, abs=TOL, rel=TOL)
    w = _run(pair, "wasserstein")
    assert w.detail["raw"] == pytest.approx(stats.wasserstein_distance(ref, cur), abs=TOL, rel=TOL)
    assert w.statistic == pytest.approx(
        stats.wasserstein_distance(ref, cur) / np.std(ref), abs=TOL, rel=TOL
    )
    # PSI / JS are defined on the reference's decile bins: same histogram, same numbers
    edges = np.asarray(pair.edges)
    hr = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
    hc = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
    js = _run(pair, "jensenshannon")
    assert js.statistic == pytest.approx(jensenshannon(hr, hc, base=2), abs=TOL)
    p = np.maximum(hr / hr.sum(), 1e-4)
    q = np.maximum(hc / hc.sum(), 1e-4)
    assert _run(pair, "psi").statistic == pytest.approx(np.sum((q - p) * np.log(q / p)), abs=TOL)


def test_ks_pvalue_matches_scipy_asymptotic_for_large_samples() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=40_000), rng.normal(0.01, 1, size=25_000)
    pair = pair_from_series("x", pd.Series(ref), pd.Series(cur), "numeric")
    res = _run(pair, "ks")
    assert res.p_value == pytest.approx(stats.ks_2samp(ref, cur, method="asymp").pvalue, rel=TOL)


@pytest.mark.parametrize("levels,n", [(2, 500), (5, 3000), (40, 20_000)])
def test_categorical_raw_agrees_with_scipy(levels: int, n: int) -> None:
    rng = np.random.default_rng(levels)
    cats = [f"v{i}" for i in range(levels)]
    ref = pd.Series(
        rng.choice(cats, n, p=np.linspace(1, 2, levels) / np.linspace(1, 2, levels).sum())
    )
    cur = pd.Series(rng.choice([*cats, "new"], n // 2))
    pair = pair_from_series("c", ref, cur, "categorical")
    table = pd.crosstab(
        np.r_[np.zeros(len(ref)), np.ones(len(cur))], np.r_[ref.to_numpy(), cur.to_numpy()]
    ).to_numpy()
    expected = stats.chi2_contingency(table)
    chi = _run(pair, "chi2")
    assert chi.statistic == pytest.approx(expected.statistic, rel=TOL)
    assert chi.p_value == pytest.approx(expected.pvalue, abs=TOL, rel=TOL)
    assert _run(pair, "jensenshannon").statistic == pytest.approx(
        jensenshannon(table[0], table[1], base=2), abs=TOL
    )
    nc = _run(pair, "new_categories")
    assert nc.detail["rows"] == int((cur == "new").sum())


def test_missingness_matches_scipy_2x2() -> None:
    rng = np.random.default_rng(5)
    ref = pd.Series(np.where(rng.random(4000) < 0.02, np.nan, rng.normal(size=4000)))
    cur = pd.Series(np.where(rng.random(3000) < 0.05, np.nan, rng.normal(size=3000)))
    pair = pair_from_series("x", ref, cur, "numeric")
    res = _run(pair, "missingness")
    rm, cm = int(ref.isna().sum()), int(cur.isna().sum())
    expected = stats.chi2_contingency([[rm, 4000 - rm], [cm, 3000 - cm]])
    assert res.p_value == pytest.approx(expected.pvalue, rel=TOL)
    assert res.statistic == pytest.approx(cm / 3000 - rm / 4000, abs=TOL)


def test_holm() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert holm(p, 0.05) == [True, False, False, True]
    adj = holm_adjusted(p)
    assert [a < 0.05 for a in adj] == holm(p, 0.05)


# ---- sketch mode vs raw mode -----------------------------------------------------------
@pytest.mark.parametrize("shape", ["normal", "shifted", "lognormal", "bimodal", "ties"])
def test_sketch_mode_within_stated_bounds(shape: str) -> None:
    """Sketch figures (baseline with 10x10 fine bins) against raw ones on the same rows.

    Provable: 0 <= KS_raw - KS_sketch <= bound, |W_raw - W_sketch| <= bound; PSI, JS and
    missingness are computed on the same bins, so equal. Measured tolerance (stated in
    docs/monitoring.md): |ΔKS| <= 0.01 and |ΔW| <= max(0.02 std, 3 % of W) on these shapes.
    """
    rng = np.random.default_rng(11)
    ref = pd.DataFrame({"x": SAMPLES["normal"](rng, 20_000) if shape != "ties" else
                        SAMPLES["ties"](rng, 20_000)})  # fmt: skip
    cur = pd.DataFrame({"x": SAMPLES[shape](rng, 8_000)})
    cur.loc[cur.sample(frac=0.03, random_state=1).index, "x"] = np.nan
    base = Baseline.from_frame(ref)
    win = base.new_window()
    win.update_batch(cur)
    raw = pair_from_series("x", ref["x"], cur["x"], "numeric")
    sk = pair_from_counts(
        base.reference.columns["x"], win.columns["x"], len(ref), len(cur), base.stats["x"]
    )
    ks_raw, ks_sk = _run(raw, "ks"), _run(sk, "ks")
    assert ks_sk.bound is not None
    assert ks_sk.statistic <= ks_raw.statistic + 1e-12
    assert ks_raw.statistic - ks_sk.statistic <= ks_sk.bound + 1e-12
    assert ks_raw.statistic - ks_sk.statistic <= 0.01
    w_raw, w_sk = _run(raw, "wasserstein"), _run(sk, "wasserstein")
    assert w_sk.bound is not None
    assert abs(w_raw.statistic - w_sk.statistic) <= w_sk.bound + 1e-12
    assert abs(w_raw.statistic - w_sk.statistic) <= max(0.02, 0.03 * w_raw.statistic)
    for name in ("psi", "jensenshannon", "missingness"):
        assert _run(sk, name).statistic == pytest.approx(_run(raw, name).statistic, abs=1e-12)


def test_sketch_mode_categorical_equals_raw_without_new_values() -> None:
    rng = np.random.default_rng(2)
    cats = [f"v{i}" for i in range(30)]
    ref = pd.DataFrame({"c": rng.choice(cats, 10_000)})
    cur = pd.DataFrame({"c": rng.choice(cats[:25], 4_000)})
    base = Baseline.from_frame(ref)
    win = base.new_window()
    win.update_batch(cur)
    raw = pair_from_series("c", ref["c"], cur["c"], "categorical")
    sk = pair_from_counts(
        base.reference.columns["c"], win.columns["c"], len(ref), len(cur), base.stats["c"]
    )
    for name in ("chi2", "psi", "jensenshannon", "cardinality", "new_categories"):
        a, b = _run(raw, name), _run(sk, name)
        assert b.statistic == pytest.approx(a.statistic, rel=1e-9, abs=1e-12), name
        if a.p_value is None:
            assert b.p_value is None
        else:
            assert b.p_value == pytest.approx(a.p_value, rel=1e-9, abs=1e-12), name
