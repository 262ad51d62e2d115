"""Routing over real sockets: failures, fallback, shadow, canary, segments, live plan changes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from tests.serving.models import RAISE_ON, SLOW_ON

if TYPE_CHECKING:
    from tests.serving.conftest import Project, RunningServer


def _body(project: Project, radius: float | None = None, i: int = 0) -> dict[str, Any]:
    row = project.row(i)
    if radius is not None:
        row["mean radius"] = radius
    return {"instances": [row]}


def test_a_model_that_raises_answers_500_with_the_id_and_the_server_keeps_serving(
    client: httpx.Client, project: Project
) -> None:
    r = client.post("/v1/models/flaky:predict", json=_body(project, RAISE_ON))
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == "model_error" and body["id"] == r.headers["x-prediction-id"]
    assert "bcflaky@1 failed on valid input" in body["error"]
    assert "refused this input" in body["error"]
    for _ in range(3):
        ok = client.post("/v1/models/flaky:predict", json=_body(project))
        assert ok.status_code == 200 and ok.headers["x-model-version"] == "bcflaky@1"


def test_fallback_on_error_and_on_timeout(client: httpx.Client, project: Project) -> None:
    normal = client.post("/v1/models/guarded:predict", json=_body(project))
    assert normal.headers["x-model-version"] == "bcflaky@1"
    err = client.post("/v1/models/guarded:predict", json=_body(project, RAISE_ON))
    assert err.status_code == 200, err.text
    assert err.headers["x-model-version"] == "bc@1"
    assert err.headers["x-fallback-reason"] == "error"
    slow = client.post("/v1/models/guarded:predict", json=_body(project, SLOW_ON))
    assert slow.status_code == 200, slow.text
    assert slow.headers["x-model-version"] == "bc@1"
    assert slow.headers["x-fallback-reason"] == "timeout"
    # invalid input is the caller's: never retried on the fallback
    bad = client.post("/v1/models/guarded:predict", json={"instances": [[1.0]]})
    assert bad.status_code == 422
    metrics = client.get("/metrics").text
    assert 'modelyard_fallbacks_total{endpoint="guarded",reason="timeout"} 1.0' in metrics
    assert 'modelyard_fallbacks_total{endpoint="guarded",reason="error"} 1.0' in metrics


def test_shadow_never_alters_the_answer(client: httpx.Client, project: Project) -> None:
    before = client.get("/metrics").text.count('endpoint="shadowed"')
    plain = client.post("/v1/models/bc:predict", json=_body(project, i=5)).json()
    for radius in (None, RAISE_ON):  # the shadow raises on the second: never felt
        r = client.post("/v1/models/shadowed:predict", json=_body(project, radius, i=5))
        assert r.status_code == 200, r.text
        assert r.headers["x-model-version"] == "bc@1"
        assert r.json()["predictions"] == plain["predictions"]
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline:
        text = client.get("/metrics").text
        if (
            'modelyard_shadow_predictions_total{endpoint="shadowed",result="ok",version="bcflaky@1"}'
            in text
            and 'result="error"' in text
        ):
            break
        time.sleep(0.05)
    assert 'result="ok",version="bcflaky@1"' in text and 'result="error"' in text
    assert text.count('endpoint="shadowed"') > before


def test_canary_weight_sticky_key_and_segment_header(
    client: httpx.Client, project: Project
) -> None:
    seen = {
        client.post("/v1/models/canary:predict", json=_body(project)).headers["x-model-version"]
        for _ in range(40)
    }
    assert seen == {"bc@1", "bc@2"}  # weight 0.5: both answer (p of one-sided = 2^-39)
    for user in ("ann", "bob", "cyd", "dee"):
        got = {
            client.post(
                "/v1/models/canary:predict", json=_body(project), headers={"x-user": user}
            ).headers["x-model-version"]
            for _ in range(8)
        }
        assert len(got) == 1  # a caller stays on one variant
    for _ in range(10):
        r = client.post(
            "/v1/models/canary:predict", json=_body(project), headers={"x-segment": "beta"}
        )
        assert r.headers["x-model-version"] == "bc@2"


def test_segment_on_a_feature_value(client: httpx.Client, project: Project) -> None:
    assert (
        client.post("/v1/models/segmented:predict", json=_body(project)).headers["x-model-version"]
        == "bc@1"
    )
    r = client.post("/v1/models/segmented:predict", json=_body(project, 1000.0))
    assert r.headers["x-model-version"] == "bc@2"
    rows = {"instances": [[1001.0, *project.X.iloc[0].tolist()[1:]]]}
    assert (
        client.post("/v1/models/segmented:predict", json=rows).headers["x-model-version"] == "bc@2"
    )


def test_a_plan_change_reaches_the_running_server_with_zero_failed_requests(
    server: RunningServer, project: Project
) -> None:
    """Deploy bc@2 to 'live' (from another Registry, as a CLI would) under concurrent load."""
    stop = threading.Event()
    seen: list[tuple[int, str | None]] = []
    body = _body(project)

    async def load() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as ac:

            async def worker() -> None:
                while not stop.is_set():
                    r = await ac.post("/v1/models/live:predict", json=body)
                    seen.append((r.status_code, r.headers.get("x-model-version")))

            await asyncio.gather(*(worker() for _ in range(16)))

    t = threading.Thread(target=lambda: asyncio.run(load()))
    t.start()

    def wait(cond: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 60
        while not cond():
            assert time.monotonic() < deadline, what
            time.sleep(0.02)

    try:
        wait(lambda: len(seen) >= 40, "load never started")
        reg = project.registry()
        reg.deploy("bc@2", "live", role="production", reason="test: promote v2")
        reg.close()
        wait(lambda: sum(v == "bc@2" for _, v in seen) >= 40, "bc@2 never answered")
    finally:
        stop.set()
        t.join(30)
    statuses = {s for s, _ in seen}
    assert statuses == {200}, statuses
    versions = [v for _, v in seen]
    assert versions[0] == "bc@1" and versions[-1] == "bc@2"
    first_new = versions.index("bc@2")
    assert all(v == "bc@2" for v in versions[first_new + 16 :])
