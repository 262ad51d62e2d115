"""OpenTelemetry traces: a real server process with the console exporter writing spans to a
file; one SERVER span per inference request with its attributes, children for validation, queue
wait and the model call, and an incoming W3C traceparent continued."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.projects import breast_cancer_endpoint
from tests.support.servers import served

pytestmark = pytest.mark.slow
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    root = tmp_path_factory.mktemp("tracing") / "proj"
    X = breast_cancer_endpoint(root)
    return root, [float(v) for v in X.iloc[0]]


@pytest.fixture
def traced_server(
    project: tuple[Path, list[float]], tmp_path: Path
) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    root, _ = project
    spans = tmp_path / "spans.jsonl"
    env = {
        "MODELYARD_USER": "tester",
        "MODELYARD_TRACES": "console",
        "MODELYARD_TRACES_FILE": str(spans),
    }
    with served(root, log=tmp_path / "server.log", env=env) as (base, proc):
        yield base, spans, proc


def _spans(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_each_request_is_a_server_span_with_children_continuing_the_callers_trace(
    traced_server: tuple[str, Path, subprocess.Popen[bytes]], project: tuple[Path, list[float]]
) -> None:
    base, spans_file, proc = traced_server
    _, row = project
    with httpx.Client(base_url=base, timeout=30) as c:
        traced = c.post(
            "/v1/models/bc:predict",
            json={"instances": [row, row]},
            headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        )
        assert traced.status_code == 200
        fresh = c.post("/v2/models/bc/infer", json=_v2(row))
        assert fresh.status_code == 200
        bad = c.post("/v1/models/bc:predict", json={"instances": [[1.0]]})
        assert bad.status_code == 422
    proc.terminate()  # shutdown flushes the spans still queued
    proc.wait(timeout=30)
    spans = _spans(spans_file)
    servers = [s for s in spans if s["name"] == "modelyard.infer"]
    assert len(servers) == 3
    by_id = {s["context"]["span_id"]: s for s in spans}

    (mine,) = [s for s in servers if s["context"]["trace_id"] == f"0x{TRACE_ID}"]
    assert mine["parent_id"] == f"0x{PARENT_ID}"
    assert mine["kind"] == "SpanKind.SERVER"
    attrs = mine["attributes"]
    assert attrs["modelyard.endpoint"] == "bc"
    assert attrs["modelyard.model_version"] == "bc@1"
    assert attrs["modelyard.prediction_id"] == traced.json()["id"]
    assert attrs["modelyard.protocol"] == "v1"
    assert attrs["http.response.status_code"] == 200
    assert attrs["modelyard.rows"] == 2
    children = {s["name"]: s for s in spans if s.get("parent_id") == mine["context"]["span_id"]}
    assert set(children) == {"validate", "queue", "predict"}
    for child in children.values():
        assert child["context"]["trace_id"] == mine["context"]["trace_id"]
    assert children["predict"]["attributes"]["modelyard.batch.rows"] >= 2
    order = [_ns(children[n]["start_time"]) for n in ("validate", "queue", "predict")]
    assert order == sorted(order)  # validated, then queued, then predicted

    (v2,) = [s for s in servers if s["attributes"]["modelyard.protocol"] == "v2"]
    assert v2["parent_id"] is None  # no traceparent: a new trace
    assert v2["attributes"]["modelyard.prediction_id"] == fresh.json()["id"]

    (failed,) = [s for s in servers if s["attributes"]["http.response.status_code"] == 422]
    assert failed["status"]["status_code"] == "ERROR"
    assert {by_id[s["parent_id"]]["name"] for s in spans if s.get("parent_id") in by_id} >= {
        "modelyard.infer"
    }


def test_traces_are_off_unless_configured(project: tuple[Path, list[float]]) -> None:
    from modelyard.registry.registry import Registry
    from modelyard.serving.stack import ServeSpec, build_app

    root, _ = project
    with Registry.open(root, {"MODELYARD_USER": "tester"}) as reg:
        app = build_app(reg, ServeSpec(project=str(root)))
        assert app.tracing is None and app.state.telemetry.tracing is None


def test_an_unknown_trace_mode_is_a_config_error(tmp_path: Path) -> None:
    from modelyard.core.errors import ConfigError
    from modelyard.core.project import ProjectConfig
    from modelyard.core.settings import Settings

    with pytest.raises(ConfigError, match="MODELYARD_TRACES='jaeger'"):
        Settings.resolve(tmp_path, ProjectConfig(name="x"), {"MODELYARD_TRACES": "jaeger"})


def _v2(row: list[float]) -> dict[str, Any]:
    return {
        "inputs": [{"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": row}]
    }


def _ns(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
