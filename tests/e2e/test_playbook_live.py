"""Playbooks reaching a real server process: a fired drift alert rolls the endpoint back and
the running server answers with the last-known-good version; then an emergency throttles it
(429)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard.orchestration.playbooks import Playbooks
from modelyard.registry.registry import Registry
from tests.support import servers
from tests.test_playbooks import FEATURES_ROW, Fitted, fire, fit_models, make_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fitted() -> Fitted:
    return fit_models()


@pytest.fixture
def served(tmp_path: Path, fitted: Fitted) -> Iterator[tuple[Registry, str]]:
    reg = make_project(tmp_path / "p", {"MODELYARD_USER": "ops"}, fitted)
    with servers.served(
        tmp_path / "p",
        "--refresh",
        "0.2",
        log=tmp_path / "server.log",
        env={"MODELYARD_USER": "server", "MODELYARD_SERVER": None},
    ) as (base, _):
        yield reg, base
        reg.close()


def _served_by(client: httpx.Client, base: str) -> str:
    r = client.post(f"{base}/v1/models/arrests:predict", json={"instances": [FEATURES_ROW]})
    assert r.status_code == 200, r.text
    return r.headers["x-model-version"]


def _until(check: object, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_rollback_and_throttle_playbooks_reach_the_running_server(
    served: tuple[Registry, str],
) -> None:
    reg, base = served
    url = f"{base}/v1/models/arrests:predict"
    with httpx.Client(timeout=10) as client:
        assert _served_by(client, base) == "arrests@2"
        records = Playbooks(reg).handle([fire(reg, "drift-critical")])
        assert [r.status for r in records] == ["done", "done"]
        assert _until(lambda: _served_by(client, base) == "arrests@1"), "still serving @2"

        records = Playbooks(reg).handle([fire(reg, "anything", tier="emergency")])
        assert [r.status for r in records] == ["done"]

        def throttled() -> bool:
            codes = {
                client.post(url, json={"instances": [FEATURES_ROW]}).status_code for _ in range(20)
            }
            return 429 in codes

        assert _until(throttled), "no request was throttled"
