"""Fuzz the management API from its own OpenAPI description (schemathesis strategies driven by
hypothesis), authenticated with a real admin token: no input, however malformed, may produce a
5xx; every 4xx carries a message. The description types every parameter and body field
(``web.api.PARAMS``, ``QUERY``, ``FIELDS``), so positive cases reach the services with
references like ``m@10000000000000000000`` and expiries like 1e308, and negative cases break
each rule. 1,900 cases per run (at least 1,000, counted); about 20-40 s."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from starlette.testclient import TestClient

from modelyard.registry.registry import Registry
from modelyard.security import tokens
from modelyard.web.api import management_app, openapi

pytestmark = pytest.mark.slow
PER_OPERATION = 100


@pytest.fixture(scope="module")
def client() -> Iterator[tuple[TestClient, str]]:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry.init(Path(tmp), env={"MODELYARD_USER": "fuzz"}, identity="os")
        X, y = load_wine(return_X_y=True, as_frame=True)
        mv = reg.register_model(DecisionTreeClassifier(max_depth=2).fit(X, y), "wine", X.head())
        reg.transition(mv, "validated", reason="so approve/deploy paths have something to do")
        admin = tokens.create(reg.store, "fuzz-admin", "admin", "fuzz").secret
        with TestClient(management_app(reg), raise_server_exceptions=False) as c:
            yield c, admin
        reg.close()


def _send(c: TestClient, admin: str, case: Any) -> None:
    kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {admin}"}}
    if case.query:
        kwargs["params"] = case.query
    body = getattr(case, "body", None)
    if body is not None and not isinstance(body, schemathesis.core.NotSet):
        kwargs["content"] = body if isinstance(body, bytes) else json.dumps(body).encode()
        kwargs["headers"]["content-type"] = "application/json"
    response = c.request(case.method, case.formatted_path, **kwargs)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if response.status_code >= 400:
        doc = response.json()
        assert doc.get("error") and doc.get("code"), response.text


def test_no_generated_input_produces_a_server_error(client: tuple[TestClient, str]) -> None:
    c, admin = client
    schema = schemathesis.openapi.from_dict(openapi())
    cases = 0
    operations = []
    for r in schema.get_all_operations():
        assert isinstance(r, Ok), r.err()
        operations.append(r.ok())
    for operation, mode in [(op, m) for op in operations for m in GenerationMode]:
        # positive: valid by the schema; negative: deliberately violates it

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=PER_OPERATION // 2,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            nonlocal cases
            cases += 1
            _send(c, admin, case)

        run()
    assert cases >= 1000, f"only {cases} cases were generated"
