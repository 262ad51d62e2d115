"""The ``DriftTest`` protocol and the built-in tests.

A drift test is any object with a ``name``, the column ``kinds`` it applies to, the ``signal``
it speaks for, and ``__call__(pair, params) -> TestResult | None`` (None: not applicable). Tests
read a ``ColumnPair`` and work in both modes: exact on raw samples, on counts in sketch mode (with
``bound``, the most the sketch figure can differ from the raw one, where that is not zero).
Built-ins are registered through the same ``register_test`` a plug-in uses; third-party tests can
also be declared under the ``modelyard.drift_tests`` entry-point group, loaded on first lookup.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from modelyard.monitoring import stats
from modelyard.monitoring.columns import ColumnPair


@dataclass(frozen=True)
class TestResult:
    test: str
    statistic: float
    p_value: float | None = None
    method: str = ""
    bound: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def effect(self) -> float:
        return abs(self.statistic)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"statistic": _num(self.statistic), "method": self.method}
        if self.p_value is not None:
            out["p_value"] = _num(self.p_value)
        if self.bound is not None:
            out["bound"] = _num(self.bound)
        if self.detail:
            out["detail"] = self.detail
        return out


@runtime_checkable
class DriftTest(Protocol):
    name: str
    kinds: frozenset[str]
    signal: str  # distribution | missingness | new_categories | vanished_categories
    # | cardinality | out_of_range | sentinel

    def __call__(self, pair: ColumnPair, params: Mapping[str, Any]) -> TestResult | None: ...


# ---- distribution tests ----------------------------------------------------------------
class KolmogorovSmirnov:
    name = "ks"
    kinds = frozenset({"numeric"})
    signal = "distribution"

    def __call__(self, pair: ColumnPair, params: Mapping[str, Any]) -> TestResult | None:
        if pair.ref_sorted is not None and pair.cur_sorted is not None:
            r, c = pair.ref_sorted, pair.cur_sorted
            if not len(r) or not len(c):
                return None
            d = stats.ks_statistic(_merged(pair))
            p, method = stats.ks_pvalue(d, len(r), len(c), r, c)
            return TestResult(self.name, d, p, method)
        n, m = pair.ref_present, pair.cur_present
        if not n or not m:
            return None
        d, bound = stats.ks_binned(pair.ref_bins, pair.cur_bins)
        # the binned statistic is a lower bound of the raw one: its p-value is conservative
        return TestResult(self.name, d, stats.ks_pvalue_asymp(d, n, m), "binned-asymp", bound)


class Wasserstein:
    """1-Wasserstein distance divided by the reference standard deviation (unit: ref stds)."""

    name = "wasserstein"
    kinds = frozenset({"numeric"})
    signal = "distribution"

    def __call__(self, pair: ColumnPair, params: Mapping[str, Any]) -> TestResult | None:
        scale = pair.ref_std if pair.ref_std > 0 else 1.0
        if pair.ref_sorted is not None and pair.cur_sorted is not None:
            if not len(pair.ref_sorted) or not len(pair.cur_sorted):
                return None
            w = stats.wasserstein(_merged(pair))
            return TestResult(self.name, w / scale, method="exact", detail={"raw": w})
        if not pair.ref_present or not pair.cur_present:
            return None
        w, bound = stats.wasserstein_binned(
            pair.ref_bins, pair.cur_bins, pair.edges, pair.outer_ref, pair.outer_cur
        )
        return TestResult(self.name, w / scale, None, "binned", bound / scale, {"raw": w})


class PopulationStability:
    name = "psi"
    kinds = frozenset({"numeric", "categorical"})
    signal = "distribution"

    def __call__(self, pair: ColumnPair, params: Mapping[str, Any]) -> TestResult | None:
        r, c = pair.coarse()
        if not r.sum() or not c.sum():
            return None
        return TestResult(self.name, stats.psi(r, c), method="bins")


class JensenShannon:
    name = "jensenshannon"
    kinds = frozenset({"numeric", "categorical"})
    signal = "distribution"

    def __call__(self, pair: ColumnPair, params: Mapping[str, Any]) -> TestResult | None:
        r, c = pair.coarse()
        if not r.sum() or not c.sum():
            return None
        return TestResult(self.name, stats.jensen_shannon(r, c), method="bins")


class ChiSquare:
    """Two-sample chi-square test of homogeneity (never goodness-of-fit: see docs)."""

    name = "chi2"
    kinds = frozenset({"categorical"})
    signal = "distribution"

    def __call__(self, pair: ColumnPair, params: Mapping[str, Any]) -> TestResult | None:
        if not pair.ref_present or not pair.cur_present:
            return None
        ref, cur = pair.ref_bins, pair.cur_bins
        if pair.mode == "sketch" and not pair.ref_other:
            # the unseen bin pools values the reference never had: one column with a zero
            # reference count whatever their number, which breaks the test's null (raw mode
            # keeps each new value apart). Unseen mass is the new_categories check's job.
            ref, cur = ref[:-1], cur[:-1]
        stat, p, dof, method = stats.chi2_two_sample(
            ref,
            cur,
            permutations=int(params.get("permutations", 999)),
            seed=int(params.get("seed", 0)),
        )
        return TestResult(self.name, stat, p, method, detail={"dof": dof})


# ---- data-quality tests ----------------------------------------------------------------
class Missingness:
    """Change in the missing (or unparseable) share: 2x2 chi-square (Yates), effect = Δ share."""

    name = "missingness"
    kinds = frozenset({"numeric", "categorical"})
    signal = "missingness"

    def __call__(self, pair: ColumnPair, params: Mapping[str, Any]) -> TestResult | None:
        if not pair.n_ref or not pair.n_cur:
            return None
        rm, cm = pair.n_ref - pair.ref_present, pair.n_cur - pair.cur_present
        delta = cm / pair.n_cur - rm / pair.n_ref
        if rm + cm == 0 or rm + cm == pair.n_ref + pair.n_cur:
            return TestResult(self.name, delta, 1.0, "degenerate")
        from scipy.stats import chi2_contingency

        table = np.array([[rm, pair.n_ref - rm], [cm, pair.n_cur - cm]])
        res = chi2_contingency(table)
        detail = {"ref_share": rm / pair.n_ref, "cur_share": cm / pair.n_cur}
        return TestResult(self.name, delta, float(res.pvalue), "chi2-2x2", detail=detail)


class NewCategories:
    """Current rows in categories the reference never had, against their permutation null (the
    pooled rows split at random, multivariate hypergeometric, seeded; as for cardinality, with
    the same spreading of untracked unseen rows in sketch mode), exact at any sample size and
    number of levels. A truncated profile (an "other" bin of unknown values), and resolution
    beyond every draw: the share unseen categories would take with no drift (Good-Turing:
    singletons / n, plus the unlisted share), one-sided Poisson test. Effect = the share."""

    name = "new_categories"
    kinds = frozenset({"categorical"})
    signal = "new_categories"

    def __call__(self, pair: ColumnPair, params: Mapping[str, Any]) -> TestResult | None:
        n_cur, n_ref = pair.cur_present, pair.ref_present
        if not n_cur or not n_ref:
            return None
        expected_share = (pair.ref_other + max(pair.ref_singletons, 1)) / n_ref
        lam = n_cur * expected_share
        share = pair.new_total / n_cur
        top = sorted(pair.new_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        known = {_folded(c): c for c in pair.categories[: pair.n_listed]}
        recased = {k: known[_folded(k)] for k, _ in top if _folded(k) in known}
        p, method = stats.poisson_sf(pair.new_total, lam), "poisson"
        if not pair.ref_other:  # a truncated profile's "other" rows have no known values
            p, method = _new_rows_permutation(pair, params, p), "permutation"
        return TestResult(
            self.name,
            share,
            p,
            method,
            detail={
                "rows": pair.new_total,
                "distinct": pair.new_distinct,
                "expected_share": expected_share,
                "values": dict(top),
                "case_of": recased,  # new values that are a reference category re-cased
            },
        )


class VanishedCategories:
    """Reference categories with no current row. For each, the chance that none of its pooled
    rows would land in the current sample if the two samples were one split at random
    (hypergeometric); the smallest, times the number of listed categories (Bonferroni), is the
    p-value. Effect: the reference share of the vanished categories. Not applicable (None) when
    every reference category still occurs."""

    name = "vanished_categories"
    kinds = frozenset({"categorical"})
    signal = "vanished_categories"

    def __call__(self, pair: ColumnPair, params: Mapping[str, Any]) -> TestResult | None:
        n, m = pair.ref_present, pair.cur_present
        if not n or not m:
            return None
        k = pair.n_listed
        ref, cur = pair.ref_bins[:k].astype(np.int64), pair.cur_bins[:k].astype(np.int64)
        gone = (cur == 0) & (ref > 0)
        if not gone.any():
            return None
        p = stats.none_drawn_pvalues(ref[gone], n, m)
        listed = int(np.count_nonzero(ref))
        names = [pair.categories[i] for i in np.flatnonzero(gone)]
        top = sorted(zip(names, ref[gone].tolist(), strict=True), key=lambda kv: -kv[1])[:10]
        detail = {"rows": int(ref[gone].sum()), "distinct": len(names), "values": dict(top)}
        p_min = min(1.0, float(np.min(p)) * listed)
        share = float(ref[gone].sum()) / n
        return TestResult(self.name, share, p_min, "hypergeometric", None, detail)


class Cardinality:
    """Distinct current values against their permutation null: the pooled rows split at random
    into a reference and a current part (multivariate hypergeometric over the pooled category
    counts, seeded), which is exactly the null distribution of the current distinct count when
    both samples come from one distribution, whatever the sample sizes and the number of levels.
    Effect: relative difference from the null mean."""

    name = "cardinality"
    kinds = frozenset({"categorical"})
    signal = "cardinality"

    def __call__(self, pair: ColumnPair, params: Mapping[str, Any]) -> TestResult | None:
        n_cur, n_ref = pair.cur_present, pair.ref_present
        if not n_cur or not n_ref:
            return None
        k = pair.n_listed
        ref = pair.ref_bins[:k].astype(np.int64)
        cur = pair.cur_bins[:k].astype(np.int64)
        new = _new_levels(pair)
        pooled = np.concatenate([ref + cur, np.asarray(new, dtype=np.int64)])
        if pair.ref_other:
            pooled = np.append(pooled, pair.ref_other)  # truncated profile: one "other" level
        pooled = pooled[pooled > 0]
        observed = float(np.count_nonzero(cur)) + len([c for c in new if c > 0])
        b = max(int(params.get("permutations", 999)), 99)
        rng = np.random.default_rng(int(params.get("seed", 0)))
        if len(pooled) <= 1:
            return TestResult(self.name, 0.0, 1.0, "degenerate")
        sims = np.count_nonzero(rng.multivariate_hypergeometric(pooled, n_cur, size=b), axis=1)
        mean, sd = float(sims.mean()), float(sims.std())
        dev = abs(observed - mean)
        hits = int(np.sum(np.abs(sims - mean) >= dev - 1e-9))
        p = (1 + hits) / (b + 1)
        if hits == 0 and sd > 0:
            # beyond every permutation: the normal tail gives the resolution Holm needs
            p = min(p, 2 * stats.normal_sf(dev / sd))
        detail = {"observed": observed, "expected": mean, "reference": pair.ref_cardinality}
        return TestResult(
            self.name, (observed - mean) / max(mean, 1.0), p, "permutation", None, detail
        )


class OutOfRange:
    """Current values outside the reference range: below its minimum or above its maximum (the
    layout's outermost bins, so both modes count the same). Per side, the exact exceedance test
    of the current count against the reference's own count beyond that edge (none when the edges
    are the reference's extremes, a few when a profile's are not); Bonferroni over the two
    sides. Effect: the share of current values outside."""

    name = "out_of_range"
    kinds = frozenset({"numeric"})
    signal = "out_of_range"

    def __call__(self, pair: ColumnPair, params: Mapping[str, Any]) -> TestResult | None:
        n, m = pair.ref_present, pair.cur_present
        if not n or not m or len(pair.ref_bins) < 2:
            return None
        ref_out = (int(pair.ref_bins[0]), int(pair.ref_bins[-1]))
        cur_out = (int(pair.cur_bins[0]), int(pair.cur_bins[-1]))
        sides = zip(ref_out, cur_out, strict=True)
        p = min(1.0, 2 * min(stats.exceedance_pvalue(c, r, n, m) for r, c in sides))
        detail = {
            "below": cur_out[0],
            "above": cur_out[1],
            "ref_share": sum(ref_out) / n,
            "range": [_num(pair.edges[0]), _num(math.nextafter(pair.edges[-1], -math.inf))],
        }
        return TestResult(self.name, sum(cur_out) / m, p, "exceedance", detail=detail)


class Sentinel:
    """A value repeated far more often than in the reference (an overflow or placeholder code,
    a default a broken join writes). Raw mode: every current value that repeats and whose share
    is at least ``sentinel_ratio`` times its reference share gets the hypergeometric test of its
    current count out of its pooled count; the smallest p-value, times the number of distinct
    pooled values (Bonferroni), decides. Sketch mode has bins, not values: only a side beyond
    the reference range whose values are all one value (count x extreme = their sum) is seen,
    with that side's exceedance p-value. Effect: the value's share gain (current - reference)."""

    name = "sentinel"
    kinds = frozenset({"numeric"})
    signal = "sentinel"

    def __call__(self, pair: ColumnPair, params: Mapping[str, Any]) -> TestResult | None:
        n, m = pair.ref_present, pair.cur_present
        if not n or m < 2:
            return None
        ratio = float(params.get("sentinel_ratio", 2.0))
        if pair.ref_sorted is None or pair.cur_sorted is None:
            return self._beyond_range(pair, n, m)
        rs, cs = pair.ref_sorted, pair.cur_sorted
        starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]])
        counts = np.diff(np.r_[starts, len(cs)])
        values = cs[starts]
        ref = np.searchsorted(rs, values, "right") - np.searchsorted(rs, values, "left")
        cand = (counts >= 2) & (counts * n >= ratio * ref * m)
        if not cand.any():
            return None
        values, counts, ref = values[cand], counts[cand], ref[cand]
        p = stats.repeat_pvalues(counts, counts + ref, n, m)
        distinct = int(np.count_nonzero(_merged(pair).deltas > 0)) + 1
        i = int(np.argmin(p))
        detail = {
            "value": _num(float(values[i])),
            "rows": int(counts[i]),
            "ref_rows": int(ref[i]),
            "candidates": len(values),
            "distinct": distinct,
        }
        gain = float(counts[i] / m - ref[i] / n)
        return TestResult(self.name, gain, min(1.0, float(p[i]) * distinct), "exact", None, detail)

    def _beyond_range(self, pair: ColumnPair, n: int, m: int) -> TestResult | None:
        found: list[tuple[float, float, dict[str, Any]]] = []
        for side, bin_i in ((0, 0), (1, len(pair.cur_bins) - 1)):
            c, r = int(pair.cur_bins[bin_i]), int(pair.ref_bins[bin_i])
            value, total = pair.cur_extremes[side], pair.outer_cur[side]
            if c >= 2 and math.isfinite(value) and math.isclose(c * value, total, rel_tol=1e-12):
                p = 2 * stats.exceedance_pvalue(c, r, n, m)
                found.append((min(p, 1.0), c / m - r / n, {"value": value, "rows": c}))
        if not found:
            return None
        p, gain, detail = min(found, key=lambda f: f[0])
        return TestResult(self.name, gain, p, "beyond-range", None, detail)


# ---- registry --------------------------------------------------------------------------
_TESTS: dict[str, DriftTest] = {}
_ENTRY_POINTS_LOADED = False


def register_test(test: DriftTest) -> DriftTest:
    """Make a test available by name (built-ins use this too)."""
    _TESTS[test.name] = test
    return test


def get_test(name: str) -> DriftTest:
    global _ENTRY_POINTS_LOADED
    if name not in _TESTS and not _ENTRY_POINTS_LOADED:
        from importlib.metadata import entry_points

        _ENTRY_POINTS_LOADED = True
        for ep in entry_points(group="modelyard.drift_tests"):
            register_test(ep.load()())
    try:
        return _TESTS[name]
    except KeyError:
        raise KeyError(f"unknown drift test {name!r}; known: {', '.join(sorted(_TESTS))}") from None


def known_tests() -> list[str]:
    return sorted(_TESTS)


for _t in (
    KolmogorovSmirnov(),
    Wasserstein(),
    PopulationStability(),
    JensenShannon(),
    ChiSquare(),
    Missingness(),
    NewCategories(),
    VanishedCategories(),
    Cardinality(),
    OutOfRange(),
    Sentinel(),
):
    register_test(_t)


# ---- helpers ---------------------------------------------------------------------------
def _merged(pair: ColumnPair) -> stats.MergedCdf:
    """The merge of the two sorted samples, computed once per pair and shared by KS and W1."""
    cache: dict[str, stats.MergedCdf] = pair.__dict__.setdefault("_cache", {})
    if "merged" not in cache:
        assert pair.ref_sorted is not None and pair.cur_sorted is not None
        cache["merged"] = stats.merge_sorted(pair.ref_sorted, pair.cur_sorted)
    return cache["merged"]


def _new_levels(pair: ColumnPair) -> list[int]:
    """Current counts of the values the reference lacks; in sketch mode past 64 unseen values
    the untracked rest is spread evenly over the estimated number of the others."""
    new = list(pair.new_counts.values())
    rest = pair.new_total - sum(new)
    extra = max(round(pair.new_distinct) - len(new), 0)
    if rest > 0 and extra:
        new += [rest // extra + (1 if i < rest % extra else 0) for i in range(extra)]
    elif rest > 0:
        new.append(rest)
    return new


def _new_rows_permutation(pair: ColumnPair, params: Mapping[str, Any], tail: float) -> float:
    """P(as many current rows in categories with no reference row) when the pooled rows are
    split at random; ``tail`` (the Poisson p-value) gives the resolution beyond every draw."""
    k = pair.n_listed
    listed = (pair.ref_bins[:k] + pair.cur_bins[:k]).astype(np.int64)
    pooled = np.concatenate([listed, np.asarray(_new_levels(pair), dtype=np.int64)])
    pooled = pooled[pooled > 0]
    if len(pooled) <= 1:
        return 1.0
    b = max(int(params.get("permutations", 999)), 99)
    rng = np.random.default_rng(int(params.get("seed", 0)))
    sims = rng.multivariate_hypergeometric(pooled, pair.cur_present, size=b)
    new = np.where(sims == pooled, sims, 0).sum(axis=1)  # all of a value's rows are current
    hits = int(np.count_nonzero(new >= pair.new_total))
    return (1 + hits) / (b + 1) if hits else min(1 / (b + 1), tail)


def _folded(label: str) -> str:
    return label.strip().casefold()


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)
