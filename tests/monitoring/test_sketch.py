"""Window sketches: exact merges (property-tested), per-row == per-batch, JSON round trips."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.monitoring.baseline import Baseline
from modelyard.monitoring.layout import CategoricalSpec, Layout, NumericSpec
from modelyard.monitoring.sketch import UNSEEN_K, ColumnCounts, WindowSketch
from modelyard.registry.registry import Registry

LAYOUT = Layout(
    columns=(
        NumericSpec.from_inner_edges("x", [-1.0, 0.0, 1.0], -2.0, 2.0, fine=2),
        CategoricalSpec("c", ("a", "b", "c")),
    ),
    prediction=NumericSpec.from_inner_edges("prediction", [0.25, 0.5, 0.75], 0.0, 1.0),
)

values = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.floats(-5, 5, allow_nan=False),
    st.integers(-3, 3),
    st.just("oops"),
)
labels = st.one_of(
    st.none(), st.sampled_from(["a", "b", "c", "zz", "new1", "new2"]), st.integers(0, 3)
)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "x": values,
            "c": labels,
            "p": st.floats(-0.5, 1.5, allow_nan=False),
            "lat": st.floats(0, 3000, allow_nan=False),
            "err": st.booleans(),
        }
    ),
    max_size=40,
)


def _key(i: int) -> float:
    """Distinct, deterministic sample keys by position in the combined traffic."""
    return (i * 0.6180339887498949) % 1.0


def _fill(rows: list[dict[str, Any]], offset: int = 0, sample: int = 5) -> WindowSketch:
    sk = WindowSketch(LAYOUT, sample_size=sample)
    for i, r in enumerate(rows):
        row = {"x": r["x"], "c": r["c"]}
        sk.update(row, r["p"], latency_ms=r["lat"], error=r["err"], key=_key(offset + i))
    return sk


@settings(max_examples=100, deadline=None)
@given(rows, rows)
def test_merge_equals_sketch_of_combined_traffic(
    a: list[dict[str, Any]], b: list[dict[str, Any]]
) -> None:
    assert _fill(a).merge(_fill(b, offset=len(a))) == _fill(a + b)


@settings(max_examples=60, deadline=None)
@given(rows, rows, rows)
def test_merge_is_associative_and_commutative(
    a: list[dict[str, Any]], b: list[dict[str, Any]], c: list[dict[str, Any]]
) -> None:
    sa, sb, sc = _fill(a), _fill(b, len(a)), _fill(c, len(a) + len(b))
    assert sa.merge(sb).merge(sc) == sa.merge(sb.merge(sc))
    assert sa.merge(sb) == sb.merge(sa)


@settings(max_examples=60, deadline=None)
@given(rows)
def test_json_round_trip(a: list[dict[str, Any]]) -> None:
    sk = _fill(a)
    back = WindowSketch.from_json(sk.to_json())
    assert back == sk
    assert json.loads(back.to_json()) == json.loads(sk.to_json())


@settings(max_examples=80, deadline=None)
@given(rows)
def test_update_batch_equals_row_by_row(a: list[dict[str, Any]]) -> None:
    df = pd.DataFrame({"x": [r["x"] for r in a], "c": [r["c"] for r in a]}, dtype=object)
    batch = WindowSketch(LAYOUT, sample_size=5)
    batch.update_batch(
        df,
        predictions=[r["p"] for r in a],
        latency_ms=[r["lat"] for r in a],
        errors=[r["err"] for r in a],
        keys=[_key(i) for i in range(len(a))],
    )
    assert batch == _fill(a)


def test_unseen_values_bottom_k_merges_exactly_past_k() -> None:
    a, b = ColumnCounts(LAYOUT.columns[1]), ColumnCounts(LAYOUT.columns[1])
    both = ColumnCounts(LAYOUT.columns[1])
    for i in range(300):
        target = a if i % 3 else b
        for col in (target, both):
            col.note_unseen(f"v{i % 150}")
    merged = a.copy()
    merged.merge(b)
    assert merged.unseen == both.unseen
    assert len(merged.unseen) == UNSEEN_K
    est = merged.unseen_distinct()
    assert 150 * 0.6 < est < 150 * 1.6  # bottom-64 estimate of 150 distinct values


def test_sample_is_uniform_bottom_k() -> None:
    base = Baseline.from_frame(pd.DataFrame({"x": np.arange(1000.0)}), sample_size=0)
    sk = base.new_window(sample_size=100, seed=1)
    for i in range(5000):
        sk.update({"x": float(i)})
    got = sk.sample_frame()["x"].to_numpy()
    assert len(got) == 100 and len(set(got)) == 100
    assert 1500 < got.mean() < 3500  # uniform over 0..4999


def test_baseline_from_frame_counts_and_round_trip() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "x": rng.normal(size=2000),
            "n": rng.integers(0, 4, 2000),
            "c": rng.choice(np.array(["a", "b", None], dtype=object), 2000),
        }
    )
    base = Baseline.from_frame(df, prediction=rng.random(2000), sample_size=50)
    ref = base.reference
    assert ref.requests == 2000
    assert sum(ref.columns["x"].counts) == 2000
    assert ref.columns["x"].counts[0] == 0 and ref.columns["x"].counts[-1] == 0
    assert ref.columns["c"].missing == int(df["c"].isna().sum())
    assert sum(ref.columns["n"].counts) == 2000 and len(set(df["n"])) == 4
    back = Baseline.from_dict(json.loads(json.dumps(base.to_dict())))
    assert back.reference == base.reference and back.stats == base.stats


def test_baseline_from_registered_profile(local_registry: Registry) -> None:
    from sklego.datasets import load_arrests

    df = load_arrests(as_frame=True)
    ds = local_registry.add_dataset(df, name="arrests")
    base = Baseline.from_profile(ds.profile, ds.schema)
    assert base.n_rows == len(df)
    assert {"age", "checks", "colour", "sex"} <= {c.name for c in base.layout.columns}
    age = base.reference.columns["age"]
    assert sum(age.counts) + age.missing == len(df)
    win = base.new_window()
    win.update_batch(df)
    # the profile's bins are [e_i, e_i+1): counting the same rows gives the profile's counts
    assert win.columns["age"].counts == age.counts
    assert win.columns["colour"].counts == base.reference.columns["colour"].counts


def test_latency_and_errors() -> None:
    sk = WindowSketch(LAYOUT)
    for ms in (0.5, 3, 3, 40, 900):
        sk.update({}, latency_ms=ms, error=ms > 100)
    assert sk.errors == 1 and sk.requests == 5
    assert sk.latency_quantile(0.5) == 5.0 and sk.latency_quantile(0.99) == 1000.0
    assert math.isclose(sk.latency_sum_ms, 946.5)
    assert sk.columns["x"].missing == 5


def test_merge_rejects_other_layouts() -> None:
    other = Layout(columns=(CategoricalSpec("c", ("a",)),))
    with pytest.raises(ValueError, match="different layouts"):
        WindowSketch(LAYOUT).merge(WindowSketch(other))


def test_live_windows_align_drain_and_merge_across_replicas() -> None:
    from modelyard.monitoring.drift import DriftSettings, compare_baseline
    from modelyard.monitoring.window import ClosedWindow, LiveWindows, merge_windows

    rng = np.random.default_rng(0)
    base = Baseline.from_frame(pd.DataFrame({"x": rng.normal(size=5000)}))
    now = [1000.0]
    replicas = [
        LiveWindows(base, stream="m@1/predict", replica=r, width_s=60, clock=lambda: now[0])
        for r in ("a", "b")
    ]
    for i in range(600):
        now[0] = 1000.0 + i * 0.2  # 120 s of traffic: windows [960, 1020), [1020, 1080), …
        replicas[i % 2].record({"x": float(rng.normal(2.0))}, latency_ms=4.0)
    replicas[0].record({"x": 0.0}, at=965.0)  # a late request lands in its own window
    closed = [w for r in replicas for w in r.drain(now=1200.0)]
    assert {(w.replica, w.start) for w in closed} == {
        (r, s) for r in ("a", "b") for s in (960.0, 1020.0, 1080.0)
    }
    first = [w for w in closed if w.start == 960.0]
    assert sum(w.sketch.requests for w in first) == 100 + 1
    back = [ClosedWindow.from_dict(json.loads(w.to_json()), base) for w in closed]
    merged = merge_windows(back)
    assert merged is not None and merged.requests == 601
    result = compare_baseline(base, merged, DriftSettings(multivariate=False))
    assert result.drifted_features == ["x"]
    assert replicas[0].drain(now=1200.0) == []
