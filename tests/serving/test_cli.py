"""The serving CLI: endpoints list/show, replay, serve's lifecycle rules, and a real `serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from modelyard.cli.main import app
from modelyard.core.errors import IllegalTransition, NotFound

if TYPE_CHECKING:
    from tests.serving.conftest import Project

runner = CliRunner()


def _run(project: Project, *args: str) -> Result:
    env = {**os.environ, **project.env}
    return runner.invoke(app, [*args, "--project", str(project.root)], env=env)


def test_endpoints_list_and_show(project: Project) -> None:
    r = _run(project, "endpoints", "list", "--json")
    assert r.exit_code == 0, r.output
    plans = {p["endpoint"]: p for p in json.loads(r.output)}
    assert {"bc", "guarded", "canary"} <= set(plans)
    roles = {x["role"] for x in plans["guarded"]["routes"]}
    assert roles == {"production", "fallback"}
    assert plans["guarded"]["config"]["latency_budget_ms"] == 300
    r = _run(project, "endpoints", "show", "canary", "--json")
    assert r.exit_code == 0, r.output
    shown = json.loads(r.output)
    assert shown["config"]["sticky_header"] == "x-user"
    assert {x["model_version"]: x["weight"] for x in shown["routes"]}["bc@2"] == 0.5
    r = _run(project, "endpoints", "show", "canary")
    assert r.exit_code == 0 and "bc@2" in r.output and "segment: header x-segment" in r.output
    r = _run(project, "endpoints", "show", "nope")
    assert isinstance(r.exception, NotFound) and "no endpoint 'nope'" in str(r.exception)


def test_serve_refuses_a_retired_version(project: Project) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelyard.registry.registry import Registry

    with Registry.open(project.root, project.env) as reg:
        with reg.start_run(model="old") as run:
            mv = run.log_model(
                make_pipeline(StandardScaler(), LogisticRegression()).fit(project.X, project.y),
                sample_input=project.X.head(),
            )
        reg.transition(mv, "retired", reason="test: retire")
    r = _run(project, "serve", "old@1", "--port", "1")
    assert isinstance(r.exception, IllegalTransition) and "retired" in str(r.exception)
    assert r.exception.exit_code == 1


def test_replay_reports_agreement_and_differences(client: httpx.Client, project: Project) -> None:
    for i in range(5):
        client.post("/v1/models/arrests:predict", json={"instances": [_row(project, i)]})
    time.sleep(0.5)  # the log flushes every 0.1 s
    same = _run(project, "replay", "arrests", "--on", "arrests@1", "--json")
    assert same.exit_code == 0, same.output
    rep = json.loads(same.output)
    assert rep["replayed"] >= 5 and rep["pii_altered"] >= 5


def _row(project: Project, i: int) -> dict[str, Any]:
    from tests.serving.conftest import FEATURES

    row = project.arrests[FEATURES].iloc[i].to_dict()
    return {str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_modelyard_serve_model_at_version_as_a_process(project: Project) -> None:
    """Exactly the command the benchmark runs; a proposed version warns but serves."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelyard.registry.registry import Registry

    with Registry.open(project.root, project.env) as reg, reg.start_run(model="fresh") as run:
        run.log_model(
            make_pipeline(StandardScaler(), LogisticRegression()).fit(project.X, project.y),
            sample_input=project.X.head(),
        )
    port = _free_port()
    exe = Path(sys.executable).with_name("modelyard")
    proc = subprocess.Popen(
        [str(exe), "serve", "fresh@1", "--host", "127.0.0.1", "--port", str(port)],
        cwd=project.root,
        env={**os.environ, **project.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.2)
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/models/fresh:predict",
            json={"instances": [project.row()]},
        )
        assert r.status_code == 200 and r.headers["x-model-version"] == "fresh@1"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert b"warning:" in err and b"proposed" in err
