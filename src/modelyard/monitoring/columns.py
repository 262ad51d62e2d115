"""``ColumnPair``: one feature's reference and current data, prepared once for every test.

Raw mode (``pair_from_series``) keeps both samples sorted (numeric) or fully counted
(categorical) so tests compute exact statistics; it also bins them on the reference's coarse
quantile bins for PSI and Jensen-Shannon. Sketch mode (``pair_from_counts``) has only the counts
of a baseline and a window sketch on the baseline's layout. Tests read what is there: a test that
needs sorted samples falls back to its binned form (and states its bound) when they are absent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from modelyard.monitoring.layout import CategoricalSpec, Kind, NumericSpec
from modelyard.monitoring.sketch import ColumnCounts, binned_sorted, label_counts

UNSEEN_LABEL = "(unseen)"


@dataclass
class ColumnPair:
    name: str
    kind: Kind
    mode: Literal["raw", "sketch"]
    n_ref: int  # rows, including missing and invalid values
    n_cur: int
    ref_missing: int
    cur_missing: int
    # numeric ------------------------------------------------------------------------------
    ref_sorted: np.ndarray | None = None
    cur_sorted: np.ndarray | None = None
    ref_std: float = 0.0
    edges: tuple[float, ...] = ()
    ref_bins: np.ndarray = field(default_factory=lambda: np.zeros(0))  # fine bins
    cur_bins: np.ndarray = field(default_factory=lambda: np.zeros(0))
    groups: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lo: float = math.inf  # smallest value below the reference range (either side)
    hi: float = -math.inf
    outer_ref: tuple[float, float] = (0.0, 0.0)  # sums of values below / above the range
    outer_cur: tuple[float, float] = (0.0, 0.0)
    cur_extremes: tuple[float, float] = (math.inf, -math.inf)  # current min below / max above
    # categorical --------------------------------------------------------------------------
    categories: tuple[str, ...] = ()  # reference categories, then new ones (or UNSEEN_LABEL)
    new_counts: dict[str, int] = field(default_factory=dict)  # current values not in ref
    new_total: int = 0  # current rows in categories the reference does not list
    new_distinct: float = 0.0
    ref_other: int = 0  # reference rows outside the listed categories (truncated profile)
    ref_cardinality: int = 0
    ref_singletons: int = 0

    # ---- derived ---------------------------------------------------------------------
    @property
    def ref_present(self) -> int:
        return int(self.ref_bins.sum())

    @property
    def cur_present(self) -> int:
        return int(self.cur_bins.sum())

    def coarse(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts on the coarse bins (PSI, Jensen-Shannon, plots)."""
        if self.kind == "categorical" or not len(self.groups):
            return self.ref_bins, self.cur_bins
        k = int(self.groups.max()) + 1
        return (
            np.bincount(self.groups, weights=self.ref_bins, minlength=k),
            np.bincount(self.groups, weights=self.cur_bins, minlength=k),
        )

    @property
    def n_listed(self) -> int:
        """Reference categories at the front of ``categories``."""
        return len(self.categories) - (1 if self.mode == "sketch" else len(self.new_counts))

    def cur_cardinality(self) -> float:
        """Distinct current values: listed ones seen, plus new ones (estimated past 64)."""
        return int(np.count_nonzero(self.cur_bins[: self.n_listed])) + self.new_distinct


def pair_from_series(name: str, ref: Any, cur: Any, kind: Kind, bins: int = 10) -> ColumnPair:
    """Raw mode: both samples as pandas Series."""
    import pandas as pd

    if kind == "numeric":
        r = pd.to_numeric(ref, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        c = pd.to_numeric(cur, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        r_nan, c_nan = np.isnan(r), np.isnan(c)
        rs = np.sort(r[~r_nan])
        cs = np.sort(c[~c_nan])
        pair = ColumnPair(
            name=name,
            kind=kind,
            mode="raw",
            n_ref=len(r),
            n_cur=len(c),
            ref_missing=int(r_nan.sum()),
            cur_missing=int(c_nan.sum()),
            ref_sorted=rs,
            cur_sorted=cs,
            ref_std=float(rs.std()) if len(rs) else 0.0,
        )
        if len(rs):
            spec = NumericSpec.from_sorted(name, rs, bins, 1)
            pair.edges = spec.edges
            pair.groups = np.asarray(spec.groups, dtype=np.int64)
            pair.ref_bins = binned_sorted(rs, spec.edges)
            pair.cur_bins = binned_sorted(cs, spec.edges)
            if len(cs):
                pair.lo = float(cs[0]) if cs[0] < spec.edges[0] else math.inf
                pair.hi = float(cs[-1]) if cs[-1] >= spec.edges[-1] else -math.inf
        return pair
    rl, rc, r_missing = label_counts(ref)
    cl, cc, c_missing = label_counts(cur)
    rmap, cmap = dict(zip(rl, rc, strict=True)), dict(zip(cl, cc, strict=True))
    ref_cats = sorted(rmap)
    new = sorted(k for k in cmap if k not in rmap)
    cats = (*ref_cats, *new)
    new_counts = {k: cmap[k] for k in new}
    return ColumnPair(
        name=name,
        kind=kind,
        mode="raw",
        n_ref=len(ref),
        n_cur=len(cur),
        ref_missing=r_missing,
        cur_missing=c_missing,
        categories=cats,
        ref_bins=np.asarray([rmap.get(k, 0) for k in cats], dtype=np.int64),
        cur_bins=np.asarray([cmap.get(k, 0) for k in cats], dtype=np.int64),
        new_counts=new_counts,
        new_total=sum(new_counts.values()),
        new_distinct=float(len(new)),
        ref_cardinality=len(ref_cats),
        ref_singletons=sum(1 for v in rc if v == 1),
    )


def pair_from_counts(
    ref: ColumnCounts, cur: ColumnCounts, n_ref: int, n_cur: int, stats: Any
) -> ColumnPair:
    """Sketch mode: a baseline's reference counts and a window's counts on the same layout."""
    spec = ref.spec
    # rows the sketch never saw for this column (e.g. absent from a request) count as missing
    ref_missing = n_ref - ref.n_present - ref.invalid
    cur_missing = n_cur - cur.n_present - cur.invalid
    if isinstance(spec, NumericSpec):
        return ColumnPair(
            name=spec.name,
            kind="numeric",
            mode="sketch",
            n_ref=n_ref,
            n_cur=n_cur,
            ref_missing=ref_missing,
            cur_missing=cur_missing,
            ref_std=float(getattr(stats, "std", 0.0)),
            edges=spec.edges,
            ref_bins=np.asarray(ref.counts, dtype=np.int64),
            cur_bins=np.asarray(cur.counts, dtype=np.int64),
            groups=np.asarray(spec.groups, dtype=np.int64),
            lo=min(ref.lo, cur.lo),
            hi=max(ref.hi, cur.hi),
            outer_ref=(ref.lo_sum, ref.hi_sum),
            outer_cur=(cur.lo_sum, cur.hi_sum),
            cur_extremes=(cur.lo, cur.hi),
        )
    assert isinstance(spec, CategoricalSpec)
    return ColumnPair(
        name=spec.name,
        kind="categorical",
        mode="sketch",
        n_ref=n_ref,
        n_cur=n_cur,
        ref_missing=ref_missing,
        cur_missing=cur_missing,
        categories=(*spec.categories, UNSEEN_LABEL),
        ref_bins=np.asarray(ref.counts, dtype=np.int64),
        cur_bins=np.asarray(cur.counts, dtype=np.int64),
        new_counts={k: n for k, (_, n) in cur.unseen.items()},
        new_total=int(cur.counts[-1]),
        new_distinct=cur.unseen_distinct(),
        ref_other=int(ref.counts[-1]),
        ref_cardinality=int(getattr(stats, "cardinality", len(spec.categories))),
        ref_singletons=int(getattr(stats, "singletons", 0)),
    )
