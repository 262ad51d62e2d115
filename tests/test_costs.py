"""Cost per version and stage: training CPU-seconds measured by the run, stored bytes (the model
artifact and the datasets its run recorded), inference CPU-seconds per 1,000 predictions from
the monitoring windows — in the catalog entries and in `modelyard catalog`."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from modelyard.registry.catalog import catalog, version_cost
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.windows import WindowStore

MODELYARD = str(Path(sys.executable).with_name("modelyard"))
START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _trained(reg: Registry) -> tuple[ModelVersion, str]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    bc = load_breast_cancer(as_frame=True).frame
    with reg.start_run(model="bc", seed=0) as run:
        ds = run.use_dataset(bc, name="bc")
        X, y = bc.drop(columns="target"), bc["target"]
        model = RandomForestClassifier(n_estimators=60, random_state=0).fit(X, y)
        mv = run.log_model(model, sample_input=X.head())
    return mv, ds.artifact_digest


def _windows(reg: Registry, mv: ModelVersion, requests: list[int], cpu: list[float]) -> None:
    rows = [
        {
            "endpoint": "bc",
            "version_id": mv.id,
            "replica": f"r{i % 2}",
            "start": START + dt.timedelta(minutes=i),
            "end": START + dt.timedelta(minutes=i + 1),
            "requests": n,
            "errors": 0,
            "cpu_s": c,
            "sketch": "{}",
        }
        for i, (n, c) in enumerate(zip(requests, cpu, strict=True))
    ]
    WindowStore(reg.store).put(rows, merge=lambda old, new: old)


def test_a_run_records_its_training_cpu_seconds(registry: Registry) -> None:
    mv, _ = _trained(registry)
    assert mv.run_id is not None
    cpu = [m for m in registry.store.runs.metrics(mv.run_id) if m.key == "cpu_seconds"]
    assert len(cpu) == 1 and cpu[0].value > 0
    assert version_cost(registry, mv)["training_cpu_s"] == cpu[0].value


def test_a_failed_run_still_records_what_it_cost(registry: Registry) -> None:
    with pytest.raises(RuntimeError), registry.start_run(model="bc") as run:
        sum(i * i for i in range(200_000))
        raise RuntimeError("diverged")
    assert registry.store.runs.get(run.id).status == "failed"
    assert [m.key for m in registry.store.runs.metrics(run.id)] == ["cpu_seconds"]


def test_stored_bytes_are_the_model_artifact_plus_the_recorded_datasets(
    registry: Registry,
) -> None:
    mv, data_digest = _trained(registry)
    cost = version_cost(registry, mv)
    model_bytes = len(registry.artifacts.get(mv.artifact_digest))
    data_bytes = len(registry.artifacts.get(data_digest))
    assert (cost["model_bytes"], cost["data_bytes"]) == (model_bytes, data_bytes)
    assert cost["stored_bytes"] == model_bytes + data_bytes


def test_inference_cost_is_cpu_seconds_per_thousand_predictions(registry: Registry) -> None:
    mv, _ = _trained(registry)
    assert version_cost(registry, mv)["inference_cpu_s_per_1k"] is None, "no traffic yet"
    _windows(registry, mv, [400, 600, 1000], [0.2, 0.3, 0.5])
    cost = version_cost(registry, mv)
    assert cost["requests"] == 2000
    assert cost["inference_cpu_s"] == pytest.approx(1.0)
    assert cost["inference_cpu_s_per_1k"] == pytest.approx(0.5)


def test_catalog_entries_carry_the_cost_of_each_version_and_the_model(registry: Registry) -> None:
    mv, _ = _trained(registry)
    _windows(registry, mv, [1000], [0.25])
    (entry,) = catalog(registry)
    (version,) = entry.versions
    assert version["cost"] == version_cost(registry, mv)
    assert entry.cost["inference_cpu_s_per_1k"] == pytest.approx(0.25)
    assert entry.cost["stored_bytes"] == version["cost"]["stored_bytes"]
    assert entry.cost["training_cpu_s"] == version["cost"]["training_cpu_s"]


def test_the_catalog_command_shows_cost_in_its_table_and_json(tmp_path: Path) -> None:
    root = tmp_path / "p"
    reg = Registry.init(root, env={"MODELYARD_USER": "tester"}, identity="os")
    try:
        mv, _ = _trained(reg)
        _windows(reg, mv, [2000], [1.0])
    finally:
        reg.close()
    env = {**os.environ, "MODELYARD_USER": "tester", "COLUMNS": "250"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MODELYARD, "catalog", "-p", str(root), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    doc = json.loads(run("--json").stdout)
    cost = doc[0]["versions"][0]["cost"]
    assert cost["inference_cpu_s_per_1k"] == pytest.approx(0.5) and cost["training_cpu_s"] > 0
    assert doc[0]["cost"]["stored_bytes"] == cost["stored_bytes"] and doc[0]["proposals"] == []
    table = run()
    assert table.returncode == 0, table.stderr
    assert "cost" in table.stdout and "0.500 cpu-s/1k pred" in table.stdout


def test_dataset_sizes_come_from_the_artifacts_the_run_used(registry: Registry) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris(as_frame=True).frame
    train, holdout = iris.iloc[::2], iris.iloc[1::2]
    with registry.start_run(model="iris") as run:
        a = run.use_dataset(pd.DataFrame(train), name="iris-train")
        b = run.use_dataset(pd.DataFrame(holdout), name="iris-holdout", role="eval")
        X = train.drop(columns="target")
        mv = run.log_model(LogisticRegression(max_iter=500).fit(X, train["target"]), X.head())
    expected = sum(len(registry.artifacts.get(d.artifact_digest)) for d in (a, b))
    assert version_cost(registry, mv)["data_bytes"] == expected
