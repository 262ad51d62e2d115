"""A baseline: the layout, the reference traffic counted on it, and reference statistics.

Built once (at release time, from training or validation data) and kept as JSON; every window
sketch is counted on its layout and compared against its reference counts. Two sources:

* ``Baseline.from_frame(df)`` — from the reference rows: ``bins`` quantile bins per numeric
  column, each cut in ``fine`` equal-width sub-bins (fine bins make KS and Wasserstein in sketch
  mode close to their raw values; PSI and Jensen-Shannon use the coarse bins), every category.
* ``Baseline.from_profile(profile, schema)`` — from a registered dataset's profile (decile edges,
  the top categories): no data needed, coarser figures (the bounds in ``checks`` say how much).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelyard.monitoring.layout import CategoricalSpec, ColumnSpec, Layout, NumericSpec
from modelyard.monitoring.sketch import ColumnCounts, WindowSketch

DEFAULT_BINS = 10
DEFAULT_FINE = 10


@dataclass
class ColumnStats:
    """Reference statistics a test needs beyond the counts."""

    std: float = 0.0  # numeric: population std of the reference values
    cardinality: int = 0  # categorical: distinct reference values (may exceed listed ones)
    singletons: int = 0  # categorical: categories seen once (Good-Turing unseen mass)

    def to_dict(self) -> dict[str, Any]:
        return {"std": self.std, "cardinality": self.cardinality, "singletons": self.singletons}


@dataclass
class Baseline:
    layout: Layout
    reference: WindowSketch
    stats: dict[str, ColumnStats] = field(default_factory=dict)
    source: str = ""

    @property
    def n_rows(self) -> int:
        return self.reference.requests

    # ---- building --------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls,
        df: Any,
        *,
        categorical: set[str] | None = None,
        prediction: Any = None,
        bins: int = DEFAULT_BINS,
        fine: int = DEFAULT_FINE,
        sample_size: int = 0,
        exclude: set[str] | None = None,
        seed: int = 0,
    ) -> Baseline:
        """Profile reference rows. Columns are numeric unless non-numeric or in ``categorical``."""
        import pandas as pd

        exclude = exclude or set()
        specs: list[ColumnSpec] = []
        stats: dict[str, ColumnStats] = {}
        for name in df.columns:
            if name in exclude:
                continue
            spec, st = _spec_for(str(name), df[name], categorical or set(), bins, fine)
            if spec is not None:
                specs.append(spec)
                stats[spec.name] = st
        pred_spec = None
        if prediction is not None:
            s = pd.Series(prediction).reset_index(drop=True)
            pred_spec, st = _spec_for("prediction", s, set(), bins, fine)
            if pred_spec is not None:
                stats["prediction"] = st
        layout = Layout(columns=tuple(specs), prediction=pred_spec)
        ref = WindowSketch(layout, sample_size=sample_size, seed=seed)
        ref.update_batch(df, predictions=prediction, n_jobs=0)
        return cls(layout=layout, reference=ref, stats=stats, source="frame")

    @classmethod
    def from_profile(
        cls, profile: dict[str, Any], schema: dict[str, Any] | None = None
    ) -> Baseline:
        """A baseline from a registered dataset's profile (``registry.profile.profile``)."""
        pii = {c["name"] for c in (schema or {}).get("columns", []) if c.get("pii")}
        specs: list[ColumnSpec] = []
        stats: dict[str, ColumnStats] = {}
        parts: dict[str, dict[str, Any]] = {}
        n_rows = int(profile["n_rows"])
        for name, entry in profile["columns"].items():
            kind = entry.get("kind")
            if kind == "numeric" and "edges" in entry:
                spec: ColumnSpec = NumericSpec.from_inner_edges(
                    name, list(entry["edges"]), float(entry["min"]), float(entry["max"])
                )
                counts = [0, *[int(c) for c in entry["counts"]], 0]
                if len(counts) != spec.n_bins:  # edges collapsed differently: re-spread
                    raise ValueError(f"profile of {name!r}: counts do not match its edges")
                stats[name] = ColumnStats(std=float(entry.get("std", 0.0)))
                parts[name] = {"counts": counts, "missing": int(entry["missing"])}
            elif kind == "categorical" and name not in pii and "counts" in entry:
                cats = [str(c) for c in entry["counts"]]
                spec = CategoricalSpec(name=name, categories=tuple(cats))
                listed = [int(c) for c in entry["counts"].values()]
                other = n_rows - int(entry["missing"]) - sum(listed)
                stats[name] = ColumnStats(
                    cardinality=int(entry.get("cardinality", len(cats))),
                    singletons=sum(1 for c in listed if c == 1),
                )
                parts[name] = {"counts": [*listed, max(other, 0)], "missing": entry["missing"]}
            else:
                continue
            specs.append(spec)
        layout = Layout(columns=tuple(specs))
        ref = WindowSketch(layout)
        ref.requests = n_rows
        for spec in specs:
            ref.columns[spec.name] = ColumnCounts.from_dict(spec, parts[spec.name])
        ref._bind()
        return cls(layout=layout, reference=ref, stats=stats, source="profile")

    # ---- using -----------------------------------------------------------------------
    def new_window(self, sample_size: int | None = None, seed: int | None = None) -> WindowSketch:
        """An empty sketch on this baseline's layout (what a server replica fills)."""
        size = self.reference.sample_size if sample_size is None else sample_size
        return WindowSketch(self.layout, sample_size=size, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "modelyard.baseline/1",
            "source": self.source,
            "reference": self.reference.to_dict(),
            "stats": {k: v.to_dict() for k, v in self.stats.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Baseline:
        ref = WindowSketch.from_dict(data["reference"])
        stats = {k: ColumnStats(**v) for k, v in data.get("stats", {}).items()}
        return cls(layout=ref.layout, reference=ref, stats=stats, source=data.get("source", ""))


def _spec_for(
    name: str, s: Any, categorical: set[str], bins: int, fine: int
) -> tuple[ColumnSpec | None, ColumnStats]:
    import pandas as pd

    dtype = s.dtype
    numeric = (
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and name not in categorical
    )
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return None, ColumnStats()
    if numeric:
        values = s.to_numpy(dtype=float, na_value=np.nan)
        values = np.sort(values[~np.isnan(values)])
        if not len(values):
            return NumericSpec(name, (0.0, math.nextafter(0.0, 1.0)), (0, 1, 2)), ColumnStats()
        return NumericSpec.from_sorted(name, values, bins, fine), ColumnStats(
            std=float(values.std())
        )
    from modelyard.monitoring.sketch import label_counts

    labels, counts, _ = label_counts(s)
    return CategoricalSpec(name=name, categories=tuple(sorted(labels))), ColumnStats(
        cardinality=len(labels), singletons=sum(1 for c in counts if c == 1)
    )
