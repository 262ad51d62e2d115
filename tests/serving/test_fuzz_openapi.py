"""Fuzz the inference API from its own OpenAPI description (schemathesis, positive and negative
generation): no input produces a 5xx; every error has the one JSON shape. >=1,000 cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from starlette.testclient import TestClient

from modelyard.registry.registry import Registry
from modelyard.serving import openapi
from modelyard.serving.stack import ServeSpec, build_app

pytestmark = pytest.mark.slow


def test_no_generated_request_produces_a_server_error(tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    reg = Registry.init(tmp_path / "p", env={"MODELYARD_USER": "fuzz"}, identity="os")
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    mv = reg.register_model(model, "bc", X.head())
    app = build_app(reg, ServeSpec(project=str(tmp_path / "p"), ref=mv.ref, prediction_log=False))
    schema = schemathesis.openapi.from_dict(openapi.document())
    cases = 0
    with TestClient(app, raise_server_exceptions=False) as client:
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result.err()
            operation = result.ok()
            for mode in GenerationMode:

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=120,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                def run(case: Any) -> None:
                    nonlocal cases
                    cases += 1
                    kwargs: dict[str, Any] = {"headers": dict(case.headers or {})}
                    if case.query:
                        kwargs["params"] = case.query
                    body = getattr(case, "body", None)
                    if body is not None and not isinstance(body, schemathesis.core.NotSet):
                        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                        kwargs["content"] = raw
                        kwargs["headers"].setdefault("content-type", "application/json")
                    kwargs["headers"] = {str(k): str(v) for k, v in kwargs["headers"].items()}
                    r = client.request(case.method, case.formatted_path, **kwargs)
                    assert r.status_code < 500 or r.status_code == 503, (
                        case.method,
                        case.formatted_path,
                        r.status_code,
                        r.text[:300],
                    )
                    if r.status_code >= 400 and r.headers.get("content-type", "").startswith(
                        "application/json"
                    ):
                        assert "error" in r.json(), r.text

                try:
                    run()
                except Unsatisfiable:  # nothing in this operation can be made invalid
                    assert mode is GenerationMode.NEGATIVE
    reg.close()
    assert cases >= 1000, f"only {cases} cases were generated"
