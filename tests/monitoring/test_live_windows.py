"""LiveMonitor: the server's observer that feeds live windows, driven with an injected clock.

Real pieces throughout: a registry on SQLite with the arrests data and versions trained through
runs (so they have baselines), answers built the way the server builds them (the version's
input schema validates the rows into a Frame, the real model predicts), and the real
WindowStore."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from modelyard.core.monitoring_records import StoredWindow
from modelyard.monitoring.live import LiveMonitor, replica_id
from modelyard.monitoring.sketch import WindowSketch
from modelyard.monitoring.version_baseline import BaselineCache, prediction_scalar
from modelyard.monitoring.window import merge_windows
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.serving.batching import Batcher, take_cpu_s
from modelyard.serving.frames import Frame, Payload
from modelyard.serving.loading import info_of
from modelyard.serving.predictor import Answer
from modelyard.serving.schema import InputSchema
from modelyard.store.windows import WindowStore

FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
PROJECT = """\
identity: os
name: live
monitoring: {window_s: 10, grace_s: 2, sample_size: 16}
"""


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from modelyard.demo.data import arrests
    from modelyard.demo.training import fit
    from modelyard.gates.retrain import TrainingInputs

    root: Path = tmp_path_factory.mktemp("live") / "p"
    root.mkdir()
    (root / "modelyard.yaml").write_text(PROJECT, encoding="utf-8")
    df = arrests()
    with Registry.init(root, env={"MODELYARD_USER": "tester"}, identity="os") as reg:
        ds = reg.add_dataset(df, "arrests-train")
        versions: dict[str, ModelVersion] = {}
        models: dict[str, Any] = {}
        for label, params in (("champion", {}), ("shadow", {"C": 0.5})):
            with reg.start_run(model="arrests", params=params, seed=0) as run:
                run.use_dataset(ds, role="train")
                models[label] = fit(TrainingInputs({"train": df}, {"train": ds.ref}, params, 0))
                versions[label] = run.log_model(models[label], sample_input=df[FEATURES].head(20))
        # registered without a run: no training data known, so no baseline
        versions["orphan"] = reg.register_model(models["champion"], "arrests", df[FEATURES][:20])
        models["orphan"] = models["champion"]
    yield {"root": root, "df": df, "versions": versions, "models": models}


@pytest.fixture
def reg(project: dict[str, Any]) -> Iterator[Registry]:
    """A fresh store per test (windows of one test never leak into the next)."""
    with Registry.open(project["root"], env={"MODELYARD_USER": "tester"}) as r:
        yield r
        from sqlalchemy import delete

        from modelyard.store import schema as t

        with r.store.tx() as conn:
            conn.execute(delete(t.monitor_windows))


def answer(
    project: dict[str, Any], label: str, rows: pd.DataFrame, cpu_s: float = 0.0, role: str = ""
) -> Answer:
    """What the server's version predictor returns for these rows."""
    mv: ModelVersion = project["versions"][label]
    records = rows[FEATURES].to_dict(orient="records")
    frame = InputSchema.from_signature(mv.signature).validate(
        Payload("records", records, "instances"), 10_000
    )
    outputs = {"predict": np.asarray(project["models"][label].predict(frame.as_dataframe()))}
    return Answer(outputs, info_of(mv), frame, role or "production", cpu_s=cpu_s)


def direct_sketch(reg: Registry, mv: ModelVersion, model: Any, rows: pd.DataFrame) -> WindowSketch:
    """The reference: the version's baseline window filled row by row (no batching)."""
    baseline = BaselineCache(reg).get(mv)
    assert baseline is not None
    sketch = baseline.new_window(sample_size=0)
    predictions = prediction_scalar({"predict": model.predict(rows[FEATURES])})
    for row, p in zip(
        cast("list[dict[str, Any]]", rows[FEATURES].to_dict(orient="records")),
        predictions,
        strict=True,
    ):
        sketch.update(row, p.item() if hasattr(p, "item") else p)
    return sketch


def stored(reg: Registry, **where: Any) -> list[StoredWindow]:
    return WindowStore(reg.store).windows(**where)


def sketch_of(row: StoredWindow) -> WindowSketch:
    return WindowSketch.from_json(row.sketch)


def test_a_closed_window_holds_the_requests_errors_cpu_and_counts_of_what_was_answered(
    reg: Registry, project: dict[str, Any]
) -> None:
    df, mv = project["df"], project["versions"]["champion"]
    clock = Clock(1000.5)
    monitor = LiveMonitor(reg, replica="pod-a", clock=clock)
    for chunk, cpu in ((df[0:5], 0.002), (df[5:6], 0.001), (df[6:40], 0.004)):
        monitor.observe("arrests", "id", answer(project, "champion", chunk, cpu), 0.003)
        clock.t += 1
    monitor.observe("arrests", "id-failed", None, 0.02, mv.ref)

    clock.t = 1011.9  # the window [1000, 1010) ended, but its grace (2 s) has not passed
    assert asyncio.run(monitor.flush()) == 0
    assert stored(reg) == []
    clock.t = 1012.0
    assert asyncio.run(monitor.flush()) == 1

    [row] = stored(reg)
    assert (row.endpoint, row.version_id, row.replica) == ("arrests", mv.id, "pod-a")
    assert (row.start.timestamp(), row.end.timestamp()) == (1000.0, 1010.0)
    assert (row.requests, row.errors) == (41, 1)  # 40 predictions + 1 failed request
    assert row.cpu_s == pytest.approx(0.007)
    got = sketch_of(row)
    want = direct_sketch(reg, mv, project["models"]["champion"], df[0:40])
    assert got.columns == want.columns
    assert got.prediction == want.prediction
    assert sum(got.latency_counts) == 41
    assert len(got.sample_rows()) == 16  # sample_size from the project file


def test_open_windows_are_written_when_the_monitor_stops(
    reg: Registry, project: dict[str, Any]
) -> None:
    df = project["df"]
    clock = Clock(2000.0)
    monitor = LiveMonitor(reg, replica="pod-a", clock=clock, flush_s=60)

    async def serve_briefly() -> None:
        await monitor.start()
        monitor.observe("arrests", "a", answer(project, "champion", df[0:3]), 0.001)
        await asyncio.sleep(0)
        await monitor.stop()

    asyncio.run(serve_briefly())
    [row] = stored(reg)
    assert row.requests == 3
    assert row.start.timestamp() == 2000.0


def test_traffic_is_split_by_window_and_shadow_answers_count_under_the_shadow_version(
    reg: Registry, project: dict[str, Any]
) -> None:
    df, versions = project["df"], project["versions"]
    clock = Clock(3005.0)
    monitor = LiveMonitor(reg, replica="pod-a", clock=clock)
    monitor.observe("arrests", "a", answer(project, "champion", df[0:10]), 0.001)
    monitor.observe("arrests", "a", answer(project, "shadow", df[0:10], role="shadow"), 0.001)
    clock.t = 3015.0
    monitor.observe("arrests", "b", answer(project, "champion", df[10:14]), 0.001)
    asyncio.run(monitor.stop())

    got = [(r.version_id, r.start.timestamp(), r.requests) for r in stored(reg)]
    assert sorted(got) == sorted(
        [
            (versions["champion"].id, 3000.0, 10),
            (versions["shadow"].id, 3000.0, 10),
            (versions["champion"].id, 3010.0, 4),
        ]
    )
    [shadow] = stored(reg, version_id=versions["shadow"].id)
    want = direct_sketch(reg, versions["shadow"], project["models"]["shadow"], df[0:10])
    assert sketch_of(shadow).prediction == want.prediction


def test_a_request_counted_after_its_window_was_written_is_merged_into_the_stored_row(
    reg: Registry, project: dict[str, Any]
) -> None:
    df, mv = project["df"], project["versions"]["champion"]
    clock = Clock(4001.0)
    monitor = LiveMonitor(reg, replica="pod-a", clock=clock)
    monitor.observe("arrests", "a", answer(project, "champion", df[0:6], 0.001), 0.001)
    clock.t = 4020.0
    asyncio.run(monitor.flush())
    clock.t = 4009.0  # observed in the same window, but only counted after it was written
    monitor.observe("arrests", "b", answer(project, "champion", df[6:9], 0.002), 0.001)
    clock.t = 4020.0
    asyncio.run(monitor.flush())

    [row] = stored(reg)
    assert row.requests == 9
    assert row.cpu_s == pytest.approx(0.003)
    want = direct_sketch(reg, mv, project["models"]["champion"], df[0:9])
    assert sketch_of(row).columns == want.columns


def test_two_replicas_on_one_store_merge_to_the_sketch_of_all_their_traffic(
    reg: Registry, project: dict[str, Any]
) -> None:
    df, mv = project["df"], project["versions"]["champion"]
    clock = Clock(5000.0)
    a = LiveMonitor(reg, replica="pod-a", clock=clock)
    b = LiveMonitor(reg, replica="pod-b", clock=clock)
    for i in range(0, 60, 3):
        (a if i % 2 else b).observe("arrests", "x", answer(project, "champion", df[i : i + 3]), 0)
    asyncio.run(a.stop())
    asyncio.run(b.stop())

    rows = stored(reg)
    assert sorted(r.replica for r in rows) == ["pod-a", "pod-b"]
    merged = merge_windows(sketch_of(r) for r in rows)
    assert merged is not None
    want = direct_sketch(reg, mv, project["models"]["champion"], df[0:60])
    assert merged.requests == 60
    assert merged.columns == want.columns
    assert merged.prediction == want.prediction


def test_a_version_without_a_baseline_is_skipped_with_one_warning(
    reg: Registry, project: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    df = project["df"]
    monitor = LiveMonitor(reg, replica="pod-a", clock=Clock(6000.0))
    for i in range(3):
        monitor.observe("arrests", "x", answer(project, "orphan", df[i : i + 1]), 0.001)
    with caplog.at_level(logging.WARNING, logger="modelyard.monitoring"):
        asyncio.run(monitor.stop())
    warnings = [r for r in caplog.records if "no baseline" in r.getMessage()]
    assert len(warnings) == 1
    assert project["versions"]["orphan"].ref in warnings[0].getMessage()
    assert stored(reg) == []
    assert monitor.stats["skipped"] == 3


def test_failures_of_unknown_versions_are_counted_aside_and_a_full_buffer_drops(
    reg: Registry, project: dict[str, Any]
) -> None:
    monitor = LiveMonitor(reg, replica="pod-a", clock=Clock(7000.0), max_pending=2)
    monitor.observe("arrests", "x", None, 0.01, None)
    monitor.observe("arrests", "y", None, 0.01, "arrests@99")
    monitor.observe("arrests", "z", None, 0.01, None)
    asyncio.run(monitor.stop())
    assert monitor.stats["dropped"] == 1
    assert monitor.stats["unattributed"] == 1
    assert monitor.stats["skipped"] == 1  # arrests@99 does not exist
    assert stored(reg) == []


def test_replica_id_comes_from_the_environment_else_host_and_pid() -> None:
    pid = os.getpid()
    assert replica_id({"MODELYARD_REPLICA": "pod-7"}) == "pod-7"
    assert replica_id({"MODELYARD_REPLICA": "pod-7"}, worker=True) == f"pod-7-{pid}"
    assert replica_id({}) == f"{socket.gethostname()}-{pid}"


def test_inference_cpu_is_measured_per_model_call_and_shared_by_rows() -> None:
    def burn(frame: Frame, want: frozenset[str]) -> dict[str, np.ndarray]:
        x = np.arange(200_000, dtype=float)
        for _ in range(20):
            x = np.sqrt(x + 1.0)
        return {"predict": np.zeros(frame.n)}

    def frame(n: int) -> Frame:
        return Frame(n, ("a",), matrix=np.zeros((n, 1)))

    async def one() -> float:
        batcher = Batcher(burn, max_rows=64, inline=True)
        await batcher.submit(frame(1), frozenset({"predict"}))
        first = take_cpu_s()
        assert take_cpu_s() == 0.0  # taken once
        return first

    assert asyncio.run(one()) > 0

    async def shared() -> list[float]:
        batcher = Batcher(burn, max_rows=64)  # worker thread: the three queue as one batch

        async def call(n: int) -> float:
            await batcher.submit(frame(n), frozenset({"predict"}))
            return take_cpu_s()

        return list(await asyncio.gather(call(1), call(1), call(3)))

    a, b, c = asyncio.run(shared())
    assert a > 0
    assert b == pytest.approx(a)  # one call, its CPU split 1:1:3 by rows
    assert c == pytest.approx(3 * a)


def test_failed_requests_count_as_errors_and_never_as_missing_values_in_the_drift_verdict(
    reg: Registry, project: dict[str, Any]
) -> None:
    from modelyard.monitoring.drift import compare_baseline

    df, mv = project["df"], project["versions"]["champion"]
    clock = Clock(2000.5)
    monitor = LiveMonitor(reg, replica="pod-a", clock=clock)
    rows = df.sample(400, random_state=1)  # the training population: no drift
    monitor.observe("arrests", "ok", answer(project, "champion", rows), 0.003)
    for k in range(80):  # a fifth of the requests fail (a broken canary, say)
        monitor.observe("arrests", f"failed-{k}", None, 0.02, mv.ref)
    clock.t = 2013.0
    assert asyncio.run(monitor.flush()) == 1
    [row] = stored(reg)
    assert (row.requests, row.errors) == (480, 80)
    baseline = BaselineCache(reg).get(mv)
    assert baseline is not None
    verdict = compare_baseline(baseline, sketch_of(row))
    assert verdict.drifted_features == [], [f.to_dict() for f in verdict.features if f.drifted]
