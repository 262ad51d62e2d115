"""Metrics across workers: with ``--workers 2``, /metrics answered by either worker reports the
requests of both, and the shared metrics folder is removed when the server exits."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.projects import breast_cancer_endpoint
from tests.support.servers import served

pytestmark = pytest.mark.slow
REQUESTS = 40


def _requests_counted(text: str, endpoint: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("modelyard_requests_total{") and f'endpoint="{endpoint}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_any_worker_reports_every_workers_requests(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    X = breast_cancer_endpoint(root)
    scratch = tmp_path / "tmp"  # the server's temp folder: where its metrics folder goes
    scratch.mkdir()
    env = {"MODELYARD_USER": "tester", "TMPDIR": str(scratch), "PROMETHEUS_MULTIPROC_DIR": None}
    with served(root, "--workers", "2", log=tmp_path / "server.log", env=env) as (base, _):
        assert [p.name for p in scratch.iterdir() if p.name.startswith("modelyard-metrics-")]
        row = [float(v) for v in X.iloc[0]]
        workers: set[str] = set()  # a prediction id starts with its process's own prefix
        sent = 0
        while sent < REQUESTS or len(workers) < 2:
            assert sent < 2_000, "the requests never reached the second worker"
            r = httpx.post(f"{base}/v1/models/bc:predict", json={"instances": [row]}, timeout=30)
            assert r.status_code == 200
            workers.add(r.json()["id"].split("-")[0])
            sent += 1
        counts = {
            _requests_counted(httpx.get(f"{base}/metrics", timeout=30).text, "bc")
            for _ in range(12)  # each scrape on a new connection, answered by either worker
        }
        assert counts == {float(sent)}
    leftovers = [p.name for p in scratch.iterdir() if p.name.startswith("modelyard-metrics-")]
    assert leftovers == [], "the shared metrics folder is removed at exit"
