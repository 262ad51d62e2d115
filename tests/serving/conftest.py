"""Fixtures for the serving tests: a real project, real models, a real server on a socket.

One project (SQLite + artifact folder in a temp dir) is built per session with the versions and
endpoints below; the server runs uvicorn (uvloop + httptools, as in production) in a thread on
a free port, with its own Registry instance, polling the store every 50 ms.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

PROJECT_YAML = """\
identity: os
name: serving-tests
datasets:
  arrests:
    target: released
    protected: [colour, sex, age]
    pii: [sex]
endpoints:
  arrests:
    prediction_log: {input_sample: 1.0, flush_every_s: 0.1}
  arrests_drop:
    prediction_log: {input_sample: 1.0, pii: drop}
  guarded:
    latency_budget_ms: 300
  canary:
    sticky_header: x-user
    segments:
      - header: x-segment
        equals: beta
        model: bc@2
  cached:
    cache: {enabled: true, max_entries: 100, ttl_s: 60}
  throttled:
    throttle: {max_concurrency: 1}
  rated:
    throttle: {rate_per_s: 0.5, burst: 2}
  small:
    max_body_bytes: 2048
    max_rows: 5
  segmented:
    segments:
      - feature: mean radius
        one_of: [1000, 1001]
        model: bc@2
"""

ENDPOINT_PLANS: dict[str, list[tuple[str, str, float]]] = {
    "bc": [("bc@1", "production", 1.0)],
    "flaky": [("bcflaky@1", "production", 1.0)],
    "guarded": [("bcflaky@1", "production", 1.0), ("bc@1", "fallback", 1.0)],
    "shadowed": [("bc@1", "production", 1.0), ("bcflaky@1", "shadow", 1.0)],
    "canary": [("bc@1", "production", 1.0), ("bc@2", "canary", 0.5)],
    "cached": [("bc@1", "production", 1.0)],
    "throttled": [("bcflaky@1", "production", 1.0)],
    "rated": [("bc@1", "production", 1.0)],
    "small": [("bc@1", "production", 1.0)],
    "segmented": [("bc@1", "production", 1.0)],
    "live": [("bc@1", "production", 1.0)],
    "forest": [("bcrf@1", "production", 1.0)],
    "arrests": [("arrests@1", "production", 1.0)],
    "arrests_drop": [("arrests@1", "production", 1.0)],
}


FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
CATEGORICAL = ["colour", "sex", "employed", "citizen"]


def arrests_pipeline() -> Any:
    """One-hot categories + scaled numbers + logistic regression (the demo's model shape)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
            ("num", StandardScaler(), [f for f in FEATURES if f not in CATEGORICAL]),
        ]
    )
    return Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=1000))])


@dataclass
class Project:
    root: Path
    env: dict[str, str]
    X: pd.DataFrame
    y: pd.Series
    arrests: pd.DataFrame

    def registry(self) -> Any:
        from modelyard.registry.registry import Registry

        return Registry.open(self.root, self.env)

    def row(self, i: int = 0) -> dict[str, float]:
        return {str(k): float(v) for k, v in self.X.iloc[i].items()}


def _approve(reg: Any, mv: Any) -> Any:
    mv = reg.transition(mv, "validated", reason="gates passed (test)")
    return reg.transition(mv, "approved", reason="approved (test)", actor="reviewer")


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelyard.demo.data import arrests
    from modelyard.registry.registry import Registry
    from tests.serving.models import Flaky

    root = tmp_path_factory.mktemp("serving") / "proj"
    root.mkdir()
    (root / "modelyard.yaml").write_text(PROJECT_YAML)
    env = {"MODELYARD_USER": "tester"}
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    arrests_df = arrests()
    with Registry.init(root, env=env, identity="os") as reg:
        models: list[tuple[str, Any, bool]] = [
            ("bc", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), False),
            ("bc", make_pipeline(StandardScaler(), LogisticRegression(C=0.01)), False),
            ("bcflaky", Flaky(make_pipeline(StandardScaler(), LogisticRegression())), True),
            ("bcrf", RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0), False),
        ]
        for name, model, trust in models:
            model.fit(X, y)
            with reg.start_run(model=name) as run:
                mv = run.log_model(model, sample_input=X.head(), trust=trust)
            _approve(reg, mv)
        ds = reg.add_dataset(arrests_df, name="arrests", source="sklego")
        with reg.start_run(model="arrests", seed=0) as run:
            run.use_dataset(ds.ref, role="train")  # the signature gets the categories
            model = arrests_pipeline().fit(arrests_df[FEATURES], arrests_df["released"] == "Yes")
            mv = run.log_model(model, sample_input=arrests_df[FEATURES].head(20))
        _approve(reg, mv)
        for endpoint, plan in ENDPOINT_PLANS.items():
            for ref, role, weight in plan:
                reg.deploy(ref, endpoint, role=role, weight=weight, reason="test plan")
    return Project(root, env, X, y, arrests_df)


class RunningServer:
    """uvicorn on a free port in a thread, serving a ServingApp."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        from modelyard.serving.stack import uvicorn_options

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.server = uvicorn.Server(
            uvicorn.Config(app, **uvicorn_options("127.0.0.1", self.port, "warning"))
        )
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def start_server(project: Project, **spec: Any) -> RunningServer:
    from modelyard.serving.stack import ServeSpec, build_app

    reg = project.registry()
    app = build_app(
        reg, ServeSpec(project=str(project.root), refresh_s=0.05, **spec), close_registry=True
    )
    return RunningServer(app)


@pytest.fixture(scope="session")
def server(project: Project) -> Iterator[RunningServer]:
    srv = start_server(project)
    yield srv
    srv.stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c
