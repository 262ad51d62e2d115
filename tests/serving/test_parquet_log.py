"""Prediction logs as Hive-partitioned Parquet: written in the background by a real server,
to a folder or a real S3 server, with stable columns, PII hashed, read back like JSONL."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from modelyard.core.errors import ConfigError
from modelyard.registry.registry import Registry
from modelyard.serving.stack import ServeSpec, build_app
from modelyard.store.crypto import generate_key
from modelyard.store.prediction_log import read_log, storage_options
from tests.serving.conftest import FEATURES, RunningServer, arrests_pipeline
from tests.support.s3server import S3Endpoint, s3_endpoint  # noqa: F401

PROJECT = """\
identity: os
name: parquet-log
datasets:
  arrests:
    target: released
    pii: [sex]
endpoints:
  arrests:
    prediction_log: {format: parquet, input_sample: 1.0, flush_every_s: 0.1}
  plain:
    prediction_log: {input_sample: 1.0, flush_every_s: 0.1}
"""


def _make_project(root: Path, env: dict[str, str]) -> Any:
    from modelyard.demo.data import arrests

    root.mkdir(parents=True)
    (root / "modelyard.yaml").write_text(PROJECT)
    df = arrests()
    with Registry.init(root, env=env, identity="os") as reg:
        ds = reg.add_dataset(df, name="arrests", source="sklego")
        with reg.start_run(model="arrests", seed=0) as run:
            run.use_dataset(ds.ref, role="train")
            model = arrests_pipeline().fit(df[FEATURES], df["released"] == "Yes")
            mv = run.log_model(model, sample_input=df[FEATURES].head(20))
        mv = reg.transition(mv, "validated", reason="test")
        mv = reg.transition(mv, "approved", reason="test", actor="reviewer")
        reg.deploy(mv, "arrests", reason="test")
        reg.deploy(mv, "plain", reason="test")
    return df


@pytest.fixture(scope="module")
def local_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Any]:
    root = tmp_path_factory.mktemp("pq") / "proj"
    env = {"MODELYARD_USER": "tester"}
    return root, env, _make_project(root, env)


def _serve(root: Path, env: dict[str, str]) -> Iterator[tuple[Registry, httpx.Client]]:
    reg = Registry.open(root, env)
    server = RunningServer(build_app(reg, ServeSpec(project=str(root), refresh_s=0.05)))
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield reg, client
    finally:
        server.stop()
        reg.close()


def _rows(df: Any, start: int, n: int) -> list[dict[str, Any]]:
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in df[FEATURES].iloc[start : start + n].to_dict("records")
    ]


def _wait(url: str | Path, endpoint: str, ids: set[str], opts: Any = None) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        found = [e for e in read_log(url, endpoint, storage_options=opts) if e["id"] in ids]
        if {e["id"] for e in found} == ids or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_parquet_log_is_partitioned_by_endpoint_date_hour_with_stable_columns(
    local_project: tuple[Path, dict[str, str], Any],
) -> None:
    root, env, df = local_project
    for reg, client in _serve(root, env):
        answers = {}
        for i in range(3):
            r = client.post("/v1/models/arrests:predict", json={"instances": _rows(df, i * 2, 2)})
            assert r.status_code == 200, r.text
            answers[r.headers["x-prediction-id"]] = r.json()["predictions"]
        url = reg.settings.prediction_log_url
        entries = _wait(url, "arrests", set(answers))
    assert url == str(root / ".modelyard" / "artifacts" / "predictions")
    assert {e["id"] for e in entries} == set(answers)
    files = sorted(Path(url).rglob("*.parquet"))
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    for f in files:
        rel = f.relative_to(url).parts
        assert rel[0] == "endpoint=arrests" and rel[1].startswith("date=")
        assert rel[2].startswith("hour=") and rel[3].startswith("part-")
    assert any(f"date={today}" in str(f) for f in files)
    table = pq.read_table(files[0])
    stable = ["id", "row", "at", "endpoint", "version", "version_id", "role", "latency_ms"]
    assert table.column_names[: len(stable)] == stable
    assert {"output", "score", "label", "sampled", "in_age", "in_colour"} <= set(table.column_names)
    assert str(table.schema.field("score").type) == "double"
    # read back in the JSONL shape: one entry per request, outputs and inputs per row
    for e in entries:
        assert e["output"]["predict"] == answers[e["id"]]
        assert e["version"] == "arrests@1" and e["role"] == "production"
        assert len(e["input"]) == 2 and e["latency_ms"] > 0
        assert e["input"][0]["sex"].startswith("sha256:")  # PII hashed, as in JSONL
    raw = b"".join(f.read_bytes() for f in files)
    assert b"Female" not in raw and b"Male" not in raw  # the sex values never in clear
    assert not list((root / ".modelyard" / "predictions").glob("arrests/*/*.jsonl"))


def test_jsonl_endpoints_keep_their_files_beside_parquet_ones(
    local_project: tuple[Path, dict[str, str], Any],
) -> None:
    root, env, df = local_project
    for _reg, client in _serve(root, env):
        r = client.post("/v1/models/plain:predict", json={"instances": _rows(df, 10, 1)})
        pid = r.headers["x-prediction-id"]
        folder = root / ".modelyard" / "predictions"
        (entry,) = _wait(folder, "plain", {pid})
    assert entry["output"]["predict"] == r.json()["predictions"]
    assert list(folder.glob("plain/*/*.jsonl"))


def test_parquet_with_an_encryption_key_is_refused_at_start(
    local_project: tuple[Path, dict[str, str], Any],
) -> None:
    import base64

    root, env, _df = local_project
    key = base64.b64encode(generate_key()).decode()
    with (
        Registry.open(root, {**env, "MODELYARD_ENCRYPTION_KEY": key}) as reg,
        pytest.raises(ConfigError, match=r"arrests.*Parquet.*encryption key"),
    ):
        build_app(reg, ServeSpec(project=str(root)))


@pytest.mark.s3
def test_parquet_log_goes_to_s3_and_reads_back(
    s3_endpoint: S3Endpoint,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = {
        "MODELYARD_USER": "tester",
        "MODELYARD_ARTIFACTS": s3_endpoint.url(f"proj-{uuid.uuid4().hex[:8]}"),
        "MODELYARD_S3_ENDPOINT_URL": s3_endpoint.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3_endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_endpoint.secret_key,
    }
    df = _make_project(tmp_path / "proj", env)
    for reg, client in _serve(tmp_path / "proj", env):
        r = client.post("/v1/models/arrests:predict", json={"instances": _rows(df, 0, 3)})
        pid = r.headers["x-prediction-id"]
        url = reg.settings.prediction_log_url
        opts = storage_options(reg.settings, url)
        entries = _wait(url, "arrests", {pid}, opts)
    assert url == env["MODELYARD_ARTIFACTS"] + "/predictions"
    assert [e["output"]["predict"] for e in entries] == [r.json()["predictions"]]
    assert not (tmp_path / "proj" / ".modelyard" / "predictions" / "arrests").exists()
