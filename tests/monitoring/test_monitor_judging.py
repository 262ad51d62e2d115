"""The monitor judges closed live windows: replicas merged, compared with the version's
baseline, one verdict per (endpoint, version, window) — on the real arrests data, whose years
run 1997-2002, with a model trained on the early years."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.core.monitoring_records import WindowVerdict
from modelyard.demo.data import arrests
from modelyard.demo.training import FEATURES, fit
from modelyard.gates.retrain import TrainingInputs
from modelyard.monitoring.evaluate import Monitor
from modelyard.monitoring.sketch import WindowSketch
from modelyard.monitoring.version_baseline import BaselineCache, prediction_scalar
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.windows import WindowStore

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
WIDTH = dt.timedelta(seconds=60)
NOW = (T0 + dt.timedelta(hours=1)).timestamp()  # every test window is long closed by then

PROJECT = """\
identity: os
name: monitored
models:
  arrests:
    sla: {{latency_p99_ms: 50, availability: 0.99}}
monitoring:
  window_s: 60
  drift: {{multivariate: false}}
{extra}"""


# ---- helpers shared with test_alerts.py ---------------------------------------------------
def reopen(reg: Registry, extra: str = "") -> Registry:
    """The same store under a project file with a ``monitoring:`` section (``extra`` is
    appended under it, indented by the caller)."""
    root = reg.settings.project_dir
    (root / "modelyard.yaml").write_text(PROJECT.format(extra=extra), encoding="utf-8")
    env = {"MODELYARD_STORE_URL": reg.settings.store_url, "MODELYARD_USER": "tester"}
    return Registry.open(root, env=env)


def split_years() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Training rows and held-out rows of 1997-1999, and the rows of 2001-2002."""
    df = arrests()
    early = df[df["year"] <= 1999].sample(frac=1.0, random_state=0).reset_index(drop=True)
    late = df[df["year"] >= 2001].sample(frac=1.0, random_state=0).reset_index(drop=True)
    n = int(len(early) * 0.6)
    return early.iloc[:n].reset_index(drop=True), early.iloc[n:].reset_index(drop=True), late


def train(reg: Registry, rows: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
    """A model version trained with lineage on ``rows`` (its baseline is those rows)."""
    params = params or {"kind": "logistic"}
    name = "arrests-early"
    existing = [d for d in reg.datasets(name)]
    ds = existing[0] if existing else reg.add_dataset(rows, name, "sklego arrests 1997-1999")
    with reg.start_run(model="arrests", params=params, seed=0) as run:
        used = run.use_dataset(ds.ref, role="train")
        data = reg.load_dataset(used)
        model = fit(TrainingInputs({"train": data}, {"train": used.ref}, dict(run.params), 0))
        return run.log_model(model, sample_input=data[FEATURES].head(20)), model


def window(
    reg: Registry,
    mv: ModelVersion,
    model: Any,
    rows: pd.DataFrame,
    start: dt.datetime,
    *,
    endpoint: str = "arrests",
    replica: str = "pod-a",
    errors: int = 0,
    latency_ms: float = 5.0,
) -> None:
    """One replica's closed window holding ``rows``, as a server replica would store it."""
    key = (reg.settings.store_url, mv.id)
    if key not in _BASELINES:
        _BASELINES[key] = BaselineCache(reg).get(mv)
    baseline = _BASELINES[key]
    assert baseline is not None
    sketch = baseline.new_window(sample_size=0)
    X = rows[FEATURES].reset_index(drop=True)
    err = np.zeros(len(X), dtype=bool)
    err[:errors] = True
    sketch.update_batch(
        X,
        predictions=prediction_scalar({"predict": model.predict(X)}),
        latency_ms=np.full(len(X), latency_ms),
        errors=err,
    )
    WindowStore(reg.store).put(
        [
            {
                "endpoint": endpoint,
                "version_id": mv.id,
                "replica": replica,
                "start": start,
                "end": start + WIDTH,
                "requests": sketch.requests,
                "errors": sketch.errors,
                "cpu_s": None,
                "sketch": sketch.to_json(),
            }
        ],
        merge=merge_json,
    )


_BASELINES: dict[tuple[str, int], Any] = {}


def chunks(df: pd.DataFrame, k: int) -> list[pd.DataFrame]:
    bounds = np.linspace(0, len(df), k + 1).astype(int)
    return [df.iloc[a:b] for a, b in itertools.pairwise(bounds)]


def merge_json(a: str, b: str) -> str:
    return WindowSketch.from_json(a).merge(WindowSketch.from_json(b)).to_json()


def at(i: int) -> dt.datetime:
    return T0 + i * WIDTH


def clock(now: float = NOW) -> Callable[[], float]:
    return lambda: now


# ---- fixtures ------------------------------------------------------------------------------
def _trained(base: Registry) -> Any:
    tr, held, late = split_years()
    reg = reopen(base)
    mv, model = train(reg, tr)
    return reg, mv, model, held, late


@pytest.fixture
def trained(registry: Registry) -> Any:
    """On SQLite and PostgreSQL: where what is stored matters."""
    out = _trained(registry)
    yield out
    out[0].close()


@pytest.fixture
def trained_local(local_registry: Registry) -> Any:
    """On SQLite only: where the logic, not the store, is under test."""
    out = _trained(local_registry)
    yield out
    out[0].close()


def verdicts(reg: Registry, endpoint: str = "arrests") -> list[WindowVerdict]:
    return WindowStore(reg.store).results(endpoint=endpoint)


# ---- specifications ------------------------------------------------------------------------
def test_late_years_drift_on_year_while_random_splits_of_the_training_period_raise_nothing(
    trained: Any,
) -> None:
    reg, mv, model, held, late = trained
    for i, part in enumerate(chunks(held, 3)):
        window(reg, mv, model, part, at(i))
    for i, part in enumerate(chunks(late, 3)):
        window(reg, mv, model, part, at(10 + i))
    Monitor(reg, clock=clock()).tick()

    results = verdicts(reg)
    assert [r.start for r in results] == [at(i) for i in (0, 1, 2, 10, 11, 12)]
    for r in results[:3]:  # same period as the training data: nothing drifts
        s = r.summary["signals"]
        assert s["drift.count"] == 0, r.summary["drift"]["drifted_features"]
        assert s["prediction.drifted"] == 0
        assert s["feature.year.drifted"] == 0
    for r in results[3:]:  # 2001-2002 against 1997-1999: the year moved, far
        s = r.summary["signals"]
        assert s["feature.year.drifted"] == 1
        assert s["drift.critical_count"] >= 1
        assert s["feature.year.psi"] > 1.0
        assert s["feature.sex.drifted"] == 0  # the arrestees' sex mix did not change
        assert s["drift.share"] == s["drift.count"] / len(FEATURES)
        # the dashboard's chart data travels with the verdict
        year = next(f for f in r.summary["drift"]["features"] if f["name"] == "year")
        assert year["severity"] == "critical" and year["plot"]["labels"]


def test_a_verdict_carries_every_signal_a_rule_can_name(trained: Any) -> None:
    reg, mv, model, held, _ = trained
    window(reg, mv, model, held.iloc[:400], at(0), errors=8, latency_ms=7.0)
    quality = {"accuracy": 0.81, "quality.labels": 120.0}
    Monitor(reg, clock=clock(), quality=lambda e, v, s, t: quality).tick()
    s = verdicts(reg)[0].summary["signals"]
    assert s["requests"] == 400 and s["error_rate"] == pytest.approx(8 / 400)
    assert s["latency.p50_ms"] >= 7.0 and s["latency.p99_ms"] >= 7.0
    for name in FEATURES:
        assert {"drifted", "effect", "psi", "missing_delta"} <= {
            k.split(".")[-1] for k in s if k.startswith(f"feature.{name}.")
        }
    assert "feature.colour.unseen_share" in s  # categories only
    assert "feature.age.unseen_share" not in s
    assert {"drift.share", "drift.count", "drift.critical_count"} <= set(s)
    assert {"prediction.drifted", "prediction.effect"} <= set(s)
    assert s["quality.accuracy"] == 0.81 and s["quality.labels"] == 120.0
    from modelyard.core.monitor_config import AlertRule

    for name in s:  # the names are exactly the vocabulary rules validate against
        AlertRule(name="x", signal=name, threshold=1.0)


def test_replicas_of_one_window_are_merged_before_judging(trained_local: Any) -> None:
    reg, mv, model, held, late = trained_local
    rows = pd.concat([held.iloc[:300], late.iloc[:300]]).reset_index(drop=True)
    window(reg, mv, model, rows.iloc[:250], at(0), replica="pod-a", errors=3)
    window(reg, mv, model, rows.iloc[250:], at(0), replica="pod-b", errors=2)
    window(reg, mv, model, rows, at(1), endpoint="single", errors=5)
    Monitor(reg, clock=clock()).tick()
    merged, single = verdicts(reg)[0], verdicts(reg, "single")[0]
    assert merged.requests == single.requests == 600
    assert merged.summary["replicas"] == ["pod-a", "pod-b"]
    assert merged.summary["signals"] == single.summary["signals"]


def test_open_and_judged_windows_are_left_alone_and_late_rows_rejudge(trained: Any) -> None:
    reg, mv, model, held, late = trained
    window(reg, mv, model, held.iloc[:200], at(0))
    window(reg, mv, model, held.iloc[200:400], at(1))
    # at(1) ends at 00:02; with grace 5 s + interval 10 s it is not settled at 00:02:10
    early = (at(2) + dt.timedelta(seconds=10)).timestamp()
    monitor = Monitor(reg, clock=clock(early))
    monitor.tick()
    assert [r.start for r in verdicts(reg)] == [at(0)]
    first = verdicts(reg)[0]
    monitor.tick(NOW)
    assert [r.start for r in verdicts(reg)] == [at(0), at(1)]
    assert verdicts(reg)[0].updated_at == first.updated_at  # judged once

    window(reg, mv, model, late.iloc[:300], at(0), replica="pod-late")  # a replica flushed late
    monitor.tick(NOW)
    again = verdicts(reg)[0]
    assert again.requests == 500
    assert again.summary["signals"]["feature.year.drifted"] == 1


def test_an_endpoint_rule_reads_traffic_over_all_versions_and_drift_of_the_busiest(
    trained_local: Any,
) -> None:
    reg, mv, model, held, late = trained_local
    canary, canary_model = train(reg, held, {"kind": "logistic", "C": 0.1})
    # the champion answers 900 late-year requests without errors, the canary 100 with 50 errors
    window(reg, mv, model, late.iloc[:900], at(0), errors=0, latency_ms=4.0)
    window(reg, canary, canary_model, held.iloc[:100], at(0), errors=50, latency_ms=90.0)
    monitor = Monitor(reg, clock=clock())
    monitor.tick()

    from modelyard.monitoring.evaluate import endpoint_view

    view = endpoint_view("arrests", at(0), verdicts(reg))
    assert view.signals["requests"] == 1000
    assert view.signals["error_rate"] == pytest.approx(50 / 1000)
    assert view.signals["latency.p50_ms"] <= 5.0 < view.signals["latency.p99_ms"]
    assert view.primary_version_id == mv.id  # the busiest version speaks for drift
    assert view.signals["feature.year.drifted"] == 1
    assert view.versions == {mv.ref: 900, canary.ref: 100}

    # a rule on the endpoint fires on what clients saw (5 %), not on the canary's 50 %
    rules = """\
  alerts:
    - {name: errors, signal: error_rate, threshold: 0.04, sustain: 1, min_requests: 1}
    - {name: year, signal: feature.year.drifted, op: ">=", threshold: 1, sustain: 1}
"""
    with reopen(reg, rules) as ruled:
        events = Monitor(ruled, clock=clock()).tick()
    assert sorted((e.rule, e.value) for e in events) == [
        ("errors", pytest.approx(0.05)),
        ("year", 1.0),
    ]


def test_a_window_of_a_version_without_recorded_training_data_still_gets_traffic_signals(
    local_registry: Registry,
) -> None:
    from sklearn.dummy import DummyClassifier

    reg = reopen(local_registry)
    _, held, _ = split_years()
    X = held[FEATURES]
    model = DummyClassifier().fit(X, held["released"])
    mv = reg.register_model(model, "dummy", sample_input=X.head(5))
    from modelyard.monitoring.baseline import Baseline

    sketch = Baseline.from_frame(X).new_window()
    sketch.update_batch(X.iloc[:50], errors=np.arange(50) < 5)
    WindowStore(reg.store).put(
        [{"endpoint": "dummy", "version_id": mv.id, "replica": "r", "start": at(0),
          "end": at(1), "requests": 50, "errors": 5, "cpu_s": None,
          "sketch": sketch.to_json()}],
        merge=merge_json,
    )  # fmt: skip
    Monitor(reg, clock=clock()).tick()
    (r,) = verdicts(reg, "dummy")
    assert r.summary["signals"] == {"requests": 50.0, "error_rate": 0.1}
    assert r.summary["baseline"].startswith("no baseline")
    reg.close()
