"""A version that fails to load does not stop the server: a real server process starts with one
deliberately corrupt artifact on disk; that endpoint answers 503 with the reason and is counted,
the other endpoint serves, and once the artifact is repaired the refresher's retry loads it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import servers

pytestmark = pytest.mark.slow


def _artifact_file(root: Path, digest: str) -> Path:
    hexdigest = digest.split(":")[-1]
    found = [
        p
        for p in (root / ".modelyard" / "artifacts").rglob("*")
        if p.is_file() and hexdigest in str(p)
    ]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelyard.registry.registry import Registry

    root = tmp_path / "proj"
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with Registry.init(root, env={"MODELYARD_USER": "tester"}, identity="os") as reg:
        versions = {}
        for name, c in (("good", 1.0), ("broken", 0.5)):
            model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
            mv = reg.register_model(model.fit(X, y), name, X.head())
            reg.transition(mv, "validated", reason="gates")
            reg.transition(mv, "approved", reason="review", actor="reviewer")
            reg.deploy(mv.ref, name, reason="test")
            versions[name] = mv
    artifact = _artifact_file(root, versions["broken"].artifact_digest)
    original = artifact.read_bytes()
    artifact.write_bytes(b"not a model" + original[11:])  # corrupt on disk, same size
    log_path = tmp_path / "server.log"
    with servers.served(
        root, "--refresh", "0.2", log=log_path, env={"MODELYARD_USER": "tester"}
    ) as (base, _):
        yield {
            "base": base,
            "row": [float(v) for v in X.iloc[0]],
            "artifact": artifact,
            "original": original,
            "log": log_path,
        }


def test_a_corrupt_artifact_marks_only_its_endpoint_not_ready_until_it_loads(
    served: dict[str, Any],
) -> None:
    body = {"instances": [served["row"]]}
    with httpx.Client(base_url=served["base"], timeout=30) as c:
        assert c.post("/v1/models/good:predict", json=body).status_code == 200
        assert c.get("/v2/models/good/ready").status_code == 200

        ready = c.get("/v2/models/broken/ready")
        assert ready.status_code == 503
        assert "broken@1 failed to load" in ready.json()["error"]
        info = c.get("/v1/models/broken").json()
        assert info["ready"] is False and "failed to load" in info["reason"]
        assert "1" in info["failed_versions"]
        refused = c.post("/v1/models/broken:predict", json=body)
        assert refused.status_code == 503 and "failed to load" in refused.json()["error"]
        assert c.get("/v2/models/broken/versions/1/ready").status_code == 503
        metrics = c.get("/metrics").text
        assert 'modelyard_version_load_failures_total{version="broken@1"}' in metrics

        served["artifact"].write_bytes(served["original"])  # repaired: the retry loads it
        deadline = time.monotonic() + 60
        while c.get("/v2/models/broken/ready").status_code != 200:
            assert time.monotonic() < deadline, served["log"].read_text()[-3000:]
            time.sleep(0.2)
        assert c.post("/v1/models/broken:predict", json=body).status_code == 200
        assert c.post("/v1/models/good:predict", json=body).status_code == 200
    assert "failed to load" in served["log"].read_text()
