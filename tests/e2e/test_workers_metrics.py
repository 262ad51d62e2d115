"""Metrics across workers: with ``--workers 2``, /metrics answered by either worker reports the
requests of both, and the shared metrics folder is removed when the server exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port, wait_ready

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
REQUESTS = 40


def _requests_counted(text: str, endpoint: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("modelyard_requests_total{") and f'endpoint="{endpoint}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_any_worker_reports_every_workers_requests(tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelyard.registry.registry import Registry

    root = tmp_path / "proj"
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with Registry.init(root, env={"MODELYARD_USER": "tester"}) as reg:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
        mv = reg.register_model(model, "bc", X.head())
        reg.transition(mv, "validated", reason="gates")
        reg.transition(mv, "approved", reason="review", actor="reviewer")
        reg.deploy(mv.ref, "bc", reason="test")
    scratch = tmp_path / "tmp"  # the server's temp folder: where its metrics folder goes
    scratch.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MODELYARD_USER": "tester",
        "TMPDIR": str(scratch),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = tmp_path / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("modelyard")),
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
            "-p",
            str(root),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, log=log_path)
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
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    leftovers = [p.name for p in scratch.iterdir() if p.name.startswith("modelyard-metrics-")]
    assert leftovers == [], "the shared metrics folder is removed at exit"
