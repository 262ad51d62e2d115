"""Prediction log (background, batched, PII-safe), structured logs and metrics."""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from modelyard.serving.logs import JsonFormatter
from modelyard.store.prediction_log import read_log

if TYPE_CHECKING:
    from tests.serving.conftest import Project


def _arrests_row(project: Project) -> dict[str, Any]:
    from tests.serving.conftest import FEATURES

    row = project.arrests[FEATURES].iloc[3].to_dict()
    return {str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def _wait_for(folder: Path, endpoint: str, pid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for entry in read_log(folder, endpoint):
            if entry["id"] == pid:
                return entry
        time.sleep(0.05)
    raise AssertionError(f"prediction {pid} never reached the log")


def test_prediction_log_hashes_or_drops_pii_fields(client: httpx.Client, project: Project) -> None:
    folder = project.root / ".modelyard" / "predictions"
    row = _arrests_row(project)
    r = client.post("/v1/models/arrests:predict", json={"instances": [row]})
    assert r.status_code == 200, r.text
    entry = _wait_for(folder, "arrests", r.headers["x-prediction-id"])
    assert entry["version"] == "arrests@1" and entry["role"] == "production"
    assert entry["output"]["predict"] == r.json()["predictions"]
    assert entry["latency_ms"] > 0
    logged = entry["input"][0]
    assert logged["sex"].startswith("sha256:") and row["sex"] not in logged["sex"]
    assert logged["colour"] == row["colour"] and logged["year"] == row["year"]
    r2 = client.post("/v1/models/arrests_drop:predict", json={"instances": [row]})
    entry2 = _wait_for(folder, "arrests_drop", r2.headers["x-prediction-id"])
    assert "sex" not in entry2["input"][0] and entry2["input"][0]["colour"] == row["colour"]
    raw = b"".join(p.read_bytes() for p in folder.rglob("*.jsonl"))
    assert f'"sex":"{row["sex"]}"'.encode() not in raw  # never in clear


def test_shadow_answers_are_logged_with_their_role(client: httpx.Client, project: Project) -> None:
    folder = project.root / ".modelyard" / "predictions"
    r = client.post("/v1/models/shadowed:predict", json={"instances": [project.row(9)]})
    pid = r.headers["x-prediction-id"]
    deadline = time.monotonic() + 10
    roles: set[str] = set()
    while time.monotonic() < deadline and roles != {"production", "shadow"}:
        roles = {e["role"] for e in read_log(folder, "shadowed") if e["id"] == pid}
        time.sleep(0.05)
    assert roles == {"production", "shadow"}


def test_json_log_lines_carry_the_prediction_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("modelyard.serving.test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("model failed", extra={"prediction_id": "abc-1", "endpoint": "bc"})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["prediction_id"] == "abc-1" and line["level"] == "error"
    assert line["msg"] == "model failed" and line["endpoint"] == "bc"


def test_metrics_count_requests_latency_and_batches(client: httpx.Client, project: Project) -> None:
    client.post("/v1/models/bc:predict", json={"instances": [project.row()]})
    client.post("/v1/models/bc:predict", json={"instances": [[1.0]]})
    text = client.get("/metrics").text
    assert (
        'modelyard_requests_total{endpoint="bc",protocol="v1",status="200",version="bc@1"}' in text
    )
    assert 'status="422"' in text
    assert 'modelyard_request_duration_seconds_bucket{endpoint="bc"' in text
    assert 'modelyard_batch_rows_bucket{endpoint="bc"' in text
    assert 'modelyard_plan_generation{endpoint="bc"}' in text
