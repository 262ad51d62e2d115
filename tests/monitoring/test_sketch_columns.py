"""The live monitor's flush path, ``WindowSketch.update_columns`` (one array per feature, no
DataFrame), counts exactly what ``update`` counts row by row: property-tested over arrays of
every dtype the server's frames carry (float64 with NaN, int64, bool, object with None, NaN,
strings, unseen categories, bools and ints), with the row sample and the prediction."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.monitoring.layout import CategoricalSpec, Layout, NumericSpec
from modelyard.monitoring.sketch import WindowSketch

LAYOUT = Layout(
    columns=(
        NumericSpec.from_inner_edges("x", [-1.0, 0.0, 1.0], -2.0, 2.0, fine=2),
        NumericSpec.from_inner_edges("i", [-10.0, 0.0, 10.0], -20.0, 20.0),
        CategoricalSpec("c", ("a", "b", "1", "True", "2")),
        CategoricalSpec("d", ("x", "y")),
        NumericSpec.from_inner_edges("absent", [0.0], -1.0, 1.0),
    ),
    prediction=CategoricalSpec("prediction", ("0", "1")),
)
NUMERIC_LAYOUT = Layout(
    columns=LAYOUT.columns[:2],
    prediction=NumericSpec.from_inner_edges("prediction", [0.25, 0.5, 0.75], 0.0, 1.0),
)

mixed = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.floats(-5, 5, allow_nan=False),
    st.integers(-3, 3),
    st.booleans(),
    st.just("oops"),
)
labels = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.sampled_from(["a", "b", "1", "True", "zz", "new"]),
    st.integers(0, 300).map(str),  # many distinct unseen values: past the bottom-k size
    st.integers(0, 3),
    st.floats(0, 3).map(lambda f: round(f, 1)),
    st.booleans(),
)


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


@st.composite
def traffic(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(0, 120))
    kind = draw(st.sampled_from(["float", "object"]))
    if kind == "float":
        x = np.array(
            draw(st.lists(st.one_of(st.floats(-5, 5), st.just(np.nan)), min_size=n, max_size=n)),
            dtype=np.float64,
        )
    else:
        x = _objects(draw(st.lists(mixed, min_size=n, max_size=n)))
    ints = draw(st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n))
    i = np.array(ints, dtype=np.int64) if draw(st.booleans()) else np.array(ints, dtype=bool)
    c = _objects(draw(st.lists(labels, min_size=n, max_size=n)))
    d = _objects(draw(st.lists(st.sampled_from(["x", "y"]), min_size=n, max_size=n)))
    return {
        "n": n,
        "columns": {"x": x, "i": i, "c": c, "d": d},
        "predictions": draw(st.lists(st.sampled_from(["0", "1", "7"]), min_size=n, max_size=n)),
        "scores": draw(st.lists(st.floats(-0.5, 1.5), min_size=n, max_size=n)),
        "latency": draw(st.lists(st.floats(0, 3000), min_size=n, max_size=n)),
    }


def _key(i: int) -> float:
    return (i * 0.6180339887498949) % 1.0


def _row_by_row(layout: Layout, t: dict[str, Any], predictions: list[Any]) -> WindowSketch:
    sk = WindowSketch(layout, sample_size=8)
    names = [c.name for c in layout.columns if c.name in t["columns"]]
    values = {name: t["columns"][name].tolist() for name in names}
    for r in range(t["n"]):
        row = {name: values[name][r] for name in names}
        sk.update(row, predictions[r], latency_ms=t["latency"][r], key=_key(r))
    return sk


@settings(max_examples=150, deadline=None)
@given(traffic())
def test_update_columns_equals_update_row_by_row(t: dict[str, Any]) -> None:
    sk = WindowSketch(LAYOUT, sample_size=8)
    sk.update_columns(
        t["n"],
        t["columns"],
        predictions=_objects(t["predictions"]),
        latency_ms=np.array(t["latency"]),
        keys=[_key(r) for r in range(t["n"])],
    )
    want = _row_by_row(LAYOUT, t, t["predictions"])
    assert sk == want
    assert sk.to_dict()["sample"] == want.to_dict()["sample"]
    assert sk.columns["absent"].missing == t["n"]


@settings(max_examples=80, deadline=None)
@given(traffic())
def test_numeric_predictions_and_flushes_in_pieces_count_the_same(t: dict[str, Any]) -> None:
    """A float prediction column; the traffic counted in two flushes into one sketch."""
    sk = WindowSketch(NUMERIC_LAYOUT, sample_size=8)
    half = t["n"] // 2
    for lo, hi in ((0, half), (half, t["n"])):
        sk.update_columns(
            hi - lo,
            {name: t["columns"][name][lo:hi] for name in ("x", "i")},
            predictions=np.array(t["scores"][lo:hi], dtype=np.float64),
            latency_ms=np.array(t["latency"][lo:hi]),
            keys=[_key(r) for r in range(lo, hi)],
        )
    want = _row_by_row(NUMERIC_LAYOUT, t, t["scores"])
    assert sk == want
    assert sk.to_dict()["sample"] == want.to_dict()["sample"]
