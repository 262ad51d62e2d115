"""The bins a baseline defines, shared by the reference sketch and every window sketch.

A numeric column has full edges ``[min, e_1, …, e_k-1, next_after(max)]`` so that its bins are::

    0: below the reference minimum   1..k: [e_i, e_i+1)   k+1: above the reference maximum

(``bisect_right(edges, x)`` is the bin of ``x``). ``groups`` maps each bin to a coarse bin used by
PSI and Jensen-Shannon, so fine bins (for KS and Wasserstein) and the conventional ~10 bins (for
PSI) come from one set of counts. A categorical column lists its reference categories; one extra
bin at the end holds every value not in that list ("unseen", or "other" when the reference list
was truncated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class NumericSpec:
    name: str
    edges: tuple[float, ...]
    groups: tuple[int, ...]
    kind: Kind = "numeric"

    @property
    def n_bins(self) -> int:
        return len(self.edges) + 1

    @classmethod
    def from_inner_edges(
        cls, name: str, inner: list[float], lo: float, hi: float, fine: int = 1
    ) -> NumericSpec:
        """Edges from a profile's inner edges and its min/max; ``fine`` sub-bins per bin."""
        top = math.nextafter(hi, math.inf)
        coarse = [lo, *[e for e in inner if lo < e < top], top]
        coarse = sorted(set(coarse))
        if len(coarse) == 1:  # a constant column: one bin [lo, next_after(lo))
            coarse = [lo, math.nextafter(lo, math.inf)]
        edges: list[float] = []
        groups: list[int] = [0]  # the "below" bin is its own group
        for i in range(len(coarse) - 1):
            a, b = coarse[i], coarse[i + 1]
            subs = [a + (b - a) * j / fine for j in range(fine)] if fine > 1 else [a]
            subs = sorted(set(subs))
            edges.extend(subs)
            groups.extend([i + 1] * len(subs))
        edges.append(coarse[-1])
        groups.append(len(coarse))  # "above"
        return cls(name=name, edges=tuple(edges), groups=tuple(groups))

    @classmethod
    def from_sorted(cls, name: str, values: np.ndarray, bins: int, fine: int) -> NumericSpec:
        """Quantile edges of sorted finite values: ``bins`` coarse bins, each cut in ``fine``."""
        n = len(values)
        # on sorted data, np.quantile's linear method is an index interpolation: do it directly.
        # Positions are integer ratios, so coarse edge i*fine here is bit-identical to coarse
        # edge i of from_sorted(values, bins, 1): raw-mode and sketch-mode PSI share their bins.
        pos = (np.arange(bins * fine + 1) * (n - 1)) / (bins * fine)
        lo_i = np.floor(pos).astype(np.int64)
        hi_i = np.minimum(lo_i + 1, n - 1)
        frac = pos - lo_i
        q = values[lo_i] * (1 - frac) + values[hi_i] * frac
        lo, hi = float(values[0]), float(values[-1])
        q[0], q[-1] = lo, hi
        top = math.nextafter(hi, math.inf)
        edges: list[float] = []
        groups: list[int] = [0]
        last = -math.inf
        for i in range(bins):
            for j in range(fine):
                e = float(q[i * fine + j])
                if e > last and e < top:
                    edges.append(e)
                    last = e
                    groups.append(i + 1)
        edges.append(top)
        groups.append(bins + 1)
        # renumber groups densely (coarse bins that collapsed on ties disappear)
        remap = {g: k for k, g in enumerate(sorted(set(groups)))}
        return cls(name=name, edges=tuple(edges), groups=tuple(remap[g] for g in groups))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "numeric", "edges": list(self.edges), "groups": list(self.groups)}


@dataclass(frozen=True)
class CategoricalSpec:
    name: str
    categories: tuple[str, ...]
    index: dict[Any, int] = field(init=False, repr=False, compare=False, hash=False)
    kind: Kind = "categorical"

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {c: i for i, c in enumerate(self.categories)})

    @property
    def n_bins(self) -> int:
        return len(self.categories) + 1

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "categorical", "categories": list(self.categories)}


ColumnSpec = NumericSpec | CategoricalSpec


def spec_from_dict(name: str, data: dict[str, Any]) -> ColumnSpec:
    if data["kind"] == "numeric":
        return NumericSpec(
            name=name,
            edges=tuple(float(e) for e in data["edges"]),
            groups=tuple(int(g) for g in data["groups"]),
        )
    return CategoricalSpec(name=name, categories=tuple(str(c) for c in data["categories"]))


@dataclass(frozen=True)
class Layout:
    """The columns a sketch counts, in order, plus the optional prediction column."""

    columns: tuple[ColumnSpec, ...]
    prediction: ColumnSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": {c.name: c.to_dict() for c in self.columns},
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        pred = data.get("prediction")
        return cls(
            columns=tuple(spec_from_dict(n, d) for n, d in data["columns"].items()),
            prediction=None if pred is None else spec_from_dict("prediction", pred),
        )
