"""With ``prediction_log.durability: acknowledged`` a prediction the caller received is in the
log, even when the server is killed with SIGKILL under concurrent traffic.

The end-to-end tests (slow): a real `modelyard serve` is started, loaded by 8 clients for
~1.5 s and killed, ten times on one project (each run restarts the server after the previous
kill); every prediction id a client received must then be in the log. A control run in the
default buffered mode shows the test sees a loss when there is one. In process: the line is on
disk when the answer arrives, concurrent answers share one commit, and a log that cannot be
written answers 503 instead of an unrecorded prediction."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from modelyard.registry.registry import Registry
from modelyard.serving.stack import ServeSpec, build_app
from modelyard.store.prediction_log import read_log
from tests.support.projects import breast_cancer_endpoint
from tests.support.servers import MODELYARD, ROOT, free_port, wait_ready

CLIENTS = 8
TRAFFIC_S = 1.5
KILLS = 10


def _project(root: Path, prediction_log: str) -> list[float]:
    features = breast_cancer_endpoint(root)
    with (root / "modelyard.yaml").open("a") as fh:
        fh.write(f"endpoints:\n  bc:\n    prediction_log: {prediction_log}\n")
    return [float(v) for v in features.iloc[0]]


def _serve_load_and_kill(root: Path, row: list[float], run: int) -> set[str]:
    """Start `modelyard serve`, send traffic from CLIENTS threads, SIGKILL it mid-traffic;
    return the prediction ids whose answers were received."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = root.parent / f"serve-{run}.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [MODELYARD, "serve", "--port", str(port), "-p", str(root)]
    acked: set[str] = set()
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=base, timeout=5) as c:
            while not stop.is_set():
                try:
                    r = c.post("/v1/models/bc:predict", json={"instances": [row]})
                except httpx.HTTPError:
                    return  # the server is gone: whatever was in flight was never answered
                assert r.status_code == 200, r.text
                acked.add(r.json()["id"])

    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_ready(base, proc, log=log)
            threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
            for t in threads:
                t.start()
            time.sleep(TRAFFIC_S)
            os.kill(proc.pid, signal.SIGKILL)  # mid-traffic: clients are still sending
            proc.wait(timeout=10)
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for t in threads:
            t.join(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    return acked


def _logged(root: Path) -> set[str]:
    return {e["id"] for e in read_log(root / ".modelyard" / "predictions", "bc")}


@pytest.mark.slow
def test_no_acknowledged_prediction_is_lost_over_ten_sigkills(tmp_path: Path) -> None:
    root = tmp_path / "p"
    row = _project(root, "{durability: acknowledged, input_sample: 0.1}")
    acked: set[str] = set()
    for run in range(KILLS):
        received = _serve_load_and_kill(root, row, run)
        assert received, f"run {run}: no prediction was answered before the kill"
        acked |= received
    lost = acked - _logged(root)
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged predictions are not in the log"


@pytest.mark.slow
def test_the_default_buffered_log_loses_what_was_not_flushed(tmp_path: Path) -> None:
    """The control: flushed every 5 s and killed after 1.5 s, a buffered log holds none of the
    answers it sent (the documented loss window), and this test can see it."""
    root = tmp_path / "p"
    row = _project(root, "{flush_every_s: 5}")
    acked = _serve_load_and_kill(root, row, 0)
    assert acked
    assert not acked & _logged(root)


# ---- in process --------------------------------------------------------------------------------
@pytest.fixture
def acked_app(tmp_path: Path) -> Iterator[tuple[Any, list[float], Path]]:
    root = tmp_path / "p"
    row = _project(root, "{durability: acknowledged, input_sample: 1.0, flush_every_s: 60}")
    reg = Registry.open(root, {"MODELYARD_USER": "tester"})
    app = build_app(reg, ServeSpec(project=str(root)), close_registry=True)
    yield app, row, root


def test_an_acknowledged_answer_is_in_the_log_file_when_it_arrives(
    acked_app: tuple[Any, list[float], Path],
) -> None:
    app, row, root = acked_app
    with TestClient(app) as client:  # the buffered flush (60 s) never runs during the test
        answer = client.post("/v1/models/bc:predict", json={"instances": [row]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["id"] in _logged(root)
        v2 = client.post(
            "/v2/models/bc/infer",
            json={
                "inputs": [
                    {"name": "in", "shape": [1, len(row)], "datatype": "FP64", "data": [row]}
                ]
            },
        )
        assert v2.status_code == 200, v2.text
        assert v2.json()["id"] in _logged(root)


def test_concurrent_answers_share_one_commit(acked_app: tuple[Any, list[float], Path]) -> None:
    app, row, root = acked_app

    async def burst() -> list[str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            answers = await asyncio.gather(
                *[
                    client.post("/v1/models/bc:predict", json={"instances": [row]})
                    for _ in range(64)
                ]
            )
        return [a.json()["id"] for a in answers if a.status_code == 200]

    with TestClient(app):  # runs the lifespan (models loaded) on its own loop
        ids = asyncio.run(burst())
    assert len(ids) == 64
    assert set(ids) <= _logged(root)
    writer = app.state.telemetry.predlog.durable
    assert writer.written == 64 and writer.commits < 64  # fewer fsyncs than answers


def test_a_log_that_cannot_be_written_answers_503_and_no_prediction(
    acked_app: tuple[Any, list[float], Path],
) -> None:
    app, row, root = acked_app
    folder = root / ".modelyard" / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bc").write_text("a file where the endpoint's folder should be")
    with TestClient(app) as client:
        answer = client.post("/v1/models/bc:predict", json={"instances": [row]})
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "not_ready"
    assert "prediction log could not be written" in answer.json()["error"]
    assert "predictions" not in answer.json()


def test_acknowledged_durability_refuses_the_parquet_format_naming_the_key() -> None:
    from modelyard.core.errors import ConfigError
    from modelyard.core.project import parse_project

    text = "endpoints:\n  bc:\n    prediction_log: {durability: acknowledged, format: parquet}\n"
    with pytest.raises(ConfigError) as caught:
        parse_project(text)
    assert "endpoints.bc.prediction_log" in caught.value.message
    assert "format: jsonl" in caught.value.message
