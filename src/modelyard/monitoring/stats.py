"""The statistics, as plain functions on arrays: raw samples (sorted) or counts on shared bins.

Raw-mode functions reproduce scipy's definitions exactly (same integer CDF counts, same
summation order) but share one merge of the two sorted samples between KS and Wasserstein, and
never re-sort: ``tests/monitoring/test_stats_scipy.py`` checks agreement to 1e-9.

Binned functions work on counts over the same bins and say how far they can be from the raw
figure: ``ks_binned`` is a lower bound of the raw KS statistic, at most ``max bin mass`` below it;
``wasserstein_binned`` interpolates both CDFs linearly inside each bin and is within
``sum(width_i * (p_i + q_i))`` of the raw distance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PSI_EPS = 1e-4  # proportions are floored here for PSI (an empty bin would make it infinite)
KS_EXACT_MAX_N = 10_000  # scipy's ks_2samp computes exact p-values up to this sample size


@dataclass(frozen=True)
class MergedCdf:
    """Two sorted samples merged: ECDF differences at every gap between pooled values."""

    deltas: np.ndarray  # gaps between consecutive pooled values
    diff: np.ndarray  # ref ECDF - cur ECDF at the left end of each gap


def merge_sorted(ref: np.ndarray, cur: np.ndarray) -> MergedCdf:
    """Merge two sorted float arrays: a stable argsort of two sorted runs is one linear merge
    (timsort), then running counts give both ECDFs at every gap."""
    n, m = len(ref), len(cur)
    pooled = np.concatenate((ref, cur))
    order = np.argsort(pooled, kind="stable")
    pooled = pooled[order]
    c_cur = np.cumsum(order[:-1] >= n, dtype=np.int64)
    c_ref = np.arange(1, n + m, dtype=np.int64) - c_cur
    # inside a run of ties the gap is 0, so the partial counts there never matter
    return MergedCdf(deltas=np.diff(pooled), diff=c_ref / n - c_cur / m)


def ks_statistic(merged: MergedCdf) -> float:
    """Two-sample KS statistic (``scipy.stats.ks_2samp(...).statistic``)."""
    at_ends = merged.deltas > 0  # where a run of equal values ends
    if not at_ends.any():
        return 0.0
    return float(np.max(np.abs(merged.diff[at_ends])))


def ks_pvalue(d: float, n: int, m: int, ref: np.ndarray, cur: np.ndarray) -> tuple[float, str]:
    """scipy's two-sided p-value: exact for small samples, asymptotic (kstwo) beyond."""
    from scipy import stats

    if max(n, m) <= KS_EXACT_MAX_N:
        res = stats.ks_2samp(ref, cur)
        return float(res.pvalue), "exact" if n * m < 10_000 * 10_000 else "asymp"
    big, small = max(n, m), min(n, m)
    en = big * small / (big + small)
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0)), "asymp"


def ks_pvalue_asymp(d: float, n: int, m: int) -> float:
    from scipy import stats

    if n == 0 or m == 0:
        return 1.0
    big, small = max(n, m), min(n, m)
    en = big * small / (big + small)
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))


def wasserstein(merged: MergedCdf) -> float:
    """1-Wasserstein distance (``scipy.stats.wasserstein_distance``)."""
    return float(np.dot(np.abs(merged.diff), merged.deltas))


# ---- on counts over shared bins --------------------------------------------------------
def ks_binned(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """(KS at the bin edges, the most the raw statistic can exceed it)."""
    p, q = ref / max(ref.sum(), 1), cur / max(cur.sum(), 1)
    d = float(np.max(np.abs(np.cumsum(p) - np.cumsum(q)))) if len(p) else 0.0
    return d, float(np.max(np.maximum(p, q))) if len(p) else 0.0


def wasserstein_binned(
    ref: np.ndarray,
    cur: np.ndarray,
    edges: Sequence[float],
    outer_ref: tuple[float, float] = (0.0, 0.0),
    outer_cur: tuple[float, float] = (0.0, 0.0),
) -> tuple[float, float]:
    """(W1 between two binned samples; the bound on its error against the raw samples).

    Bins are ``(-inf, e0), [e0, e1), …, [e_last, inf)``. Inside ``[e0, e_last)`` both CDFs are
    interpolated linearly within each bin (error at most ``width * (p + q)`` per bin). Outside,
    ``outer_*`` gives each side's sums of the values below and above the range: the area
    between a side's CDF and 0 (below) or 1 (above) is then exact, ``count * e0 - sum``, so the
    outer part is exact when only one side has values there (the usual case: the reference
    defines the range) and bounded by twice the smaller area otherwise.
    """
    nr, nc = max(ref.sum(), 1), max(cur.sum(), 1)
    p, q = ref / nr, cur / nc
    e = np.asarray(edges, dtype=float)
    width = np.diff(e)
    fp, fq = np.cumsum(p)[:-1], np.cumsum(q)[:-1]  # CDFs at e0 … e_last
    d0, d1 = (fp - fq)[:-1], (fp - fq)[1:]
    a0, a1 = np.abs(d0), np.abs(d1)
    same = d0 * d1 >= 0
    denom = np.where(same, 1.0, a0 + a1)
    area = np.where(same, (a0 + a1) / 2, (d0 * d0 + d1 * d1) / (2 * denom))
    w = float(np.sum(width * area))
    bound = float(np.sum(width * (p[1:-1] + q[1:-1])))
    below_r = (ref[0] * e[0] - outer_ref[0]) / nr
    below_c = (cur[0] * e[0] - outer_cur[0]) / nc
    above_r = (outer_ref[1] - ref[-1] * e[-1]) / nr
    above_c = (outer_cur[1] - cur[-1] * e[-1]) / nc
    for a, b in ((below_r, below_c), (above_r, above_c)):
        w += abs(a - b)
        bound += 2 * min(a, b)
    return w, bound


def psi(ref: np.ndarray, cur: np.ndarray) -> float:
    """Population stability index on counts over shared bins (proportions floored at 1e-4)."""
    p = np.maximum(ref / max(ref.sum(), 1), PSI_EPS)
    q = np.maximum(cur / max(cur.sum(), 1), PSI_EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(ref: np.ndarray, cur: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2, in [0, 1] (``scipy.spatial.distance.jensenshannon``)."""
    if ref.sum() == 0 or cur.sum() == 0:
        return 0.0
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(ref.astype(float), cur.astype(float), base=2.0))


def chi2_two_sample(
    ref: np.ndarray, cur: np.ndarray, permutations: int = 0, seed: int = 0
) -> tuple[float, float, int, str]:
    """Chi-square test of homogeneity on a 2xk table: (statistic, p, dof, method).

    ``scipy.stats.chi2_contingency`` (with its Yates correction when dof = 1). When the table is
    sparse (over 20 % of expected counts below 5, Cochran's rule) and ``permutations`` > 0, the
    p-value is a seeded Monte Carlo one: the current row resampled from the pooled counts
    (multivariate hypergeometric), so verdicts stay calibrated for many levels and few rows.
    """
    from scipy.stats import chi2_contingency

    keep = (ref + cur) > 0
    r, c = ref[keep].astype(np.int64), cur[keep].astype(np.int64)
    if len(r) < 2 or r.sum() == 0 or c.sum() == 0:
        return 0.0, 1.0, 0, "degenerate"
    table = np.vstack([r, c])
    res = chi2_contingency(table)
    stat, p, dof = float(res.statistic), float(res.pvalue), int(res.dof)
    expected = res.expected_freq
    if permutations and np.mean(expected < 5) > 0.2:
        rng = np.random.default_rng(seed)
        pooled = r + c
        sims = rng.multivariate_hypergeometric(pooled, int(c.sum()), size=permutations)
        n_r, n_c, tot = r.sum(), c.sum(), pooled.sum()
        e_c = pooled * (n_c / tot)
        e_r = pooled * (n_r / tot)
        sim_stats = ((sims - e_c) ** 2 / e_c).sum(1) + ((pooled - sims - e_r) ** 2 / e_r).sum(1)
        obs = float((((c - e_c) ** 2) / e_c).sum() + (((r - e_r) ** 2) / e_r).sum())
        hits = int(np.sum(sim_stats >= obs - 1e-9 * max(obs, 1)))
        perm_p = (1 + hits) / (permutations + 1)
        # beyond every permutation: fall back on the asymptotic tail for resolution (Holm
        # across many checks needs p-values below 1 / (permutations + 1))
        return stat, min(perm_p, p) if hits == 0 else perm_p, dof, "permutation"
    return stat, p, dof, "asymptotic"


def poisson_sf(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam)."""
    from scipy.stats import poisson

    if k <= 0:
        return 1.0
    return float(poisson.sf(k - 1, lam))


def exceedance_pvalue(x: int, beyond_ref: int, n_ref: int, n_cur: int) -> float:
    """P(at least ``x`` of ``n_cur`` current values fall beyond an edge that ``beyond_ref`` of
    ``n_ref`` reference values pass), when both samples come from one distribution and the edge
    is the reference's own extreme (its minimum or maximum: ``beyond_ref`` = 0).

    Exact under exchangeability whatever the distribution: it happens when the ``x +
    beyond_ref`` most extreme pooled values hold at most ``beyond_ref`` reference ones
    (hypergeometric). Ties at the edge only make it conservative."""
    from scipy.stats import hypergeom

    if x <= 0:
        return 1.0
    total = n_ref + n_cur
    draws = min(x + beyond_ref, total)
    return float(np.clip(hypergeom.cdf(beyond_ref, total, n_ref, draws), 0.0, 1.0))


def repeat_pvalues(cur: np.ndarray, pooled: np.ndarray, n_ref: int, n_cur: int) -> np.ndarray:
    """One-sided p-values that each value's current count ``cur`` is this large out of its
    ``pooled`` (reference + current) count, when the pooled rows are split at random into the
    two samples (hypergeometric): the test of a repeated value, conditional on the pooled data."""
    from scipy.stats import hypergeom

    p: np.ndarray = np.clip(hypergeom.sf(cur - 1, n_ref + n_cur, pooled, n_cur), 0.0, 1.0)
    return p


def none_drawn_pvalues(pooled: np.ndarray, n_ref: int, n_cur: int) -> np.ndarray:
    """P(none of a value's ``pooled`` rows is in the current sample) when the pooled rows are
    split at random into the two samples (hypergeometric): the test of a vanished value."""
    from scipy.stats import hypergeom

    p: np.ndarray = np.clip(hypergeom.pmf(0, n_ref + n_cur, pooled, n_cur), 0.0, 1.0)
    return p


def normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Holm-Bonferroni step-down: which hypotheses are rejected at family-wise level alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    reject = [False] * m
    for rank, i in enumerate(order):
        if p_values[i] <= alpha / (m - rank):
            reject[i] = True
        else:
            break
    return reject


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (reject when adjusted <= alpha)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out
