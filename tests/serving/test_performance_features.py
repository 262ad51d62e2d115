"""Batching, the prediction cache and throttling, counted (never timed)."""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pytest

from modelyard.serving.batching import Batcher
from modelyard.serving.frames import Frame

if TYPE_CHECKING:
    from tests.serving.conftest import Project, RunningServer


def _frame(n: int = 1, value: float = 0.0) -> Frame:
    return Frame(n, ("a", "b"), matrix=np.full((n, 2), value))


class CountingModel:
    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, frame: Frame, want: frozenset[str]) -> dict[str, np.ndarray]:
        self.batches.append(frame.n)
        X = frame.as_matrix()
        if (X == -1).any():
            raise RuntimeError("poisoned row")
        return {"predict": X.sum(axis=1)}


@pytest.mark.parametrize("inline", [True, False])
def test_a_lone_request_is_predicted_alone_at_once(inline: bool) -> None:
    model = CountingModel()
    sleeps: list[float] = []

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)

    async def go() -> None:
        b = Batcher(model, max_rows=64, max_wait_s=0.5, inline=inline, sleep=fake_sleep)
        for i in range(3):  # one at a time, as at concurrency 1
            out = await b.submit(_frame(1, i), frozenset({"predict"}))
            assert out["predict"].tolist() == [2.0 * i]

    asyncio.run(go())
    assert model.batches == [1, 1, 1]
    assert sleeps == []  # never waited: the previous batch was never shared


@pytest.mark.parametrize("inline", [True, False])
def test_requests_that_queue_together_form_batches_capped_in_rows(inline: bool) -> None:
    model = CountingModel()

    async def go() -> list[dict[str, np.ndarray]]:
        b = Batcher(model, max_rows=8, inline=inline)
        frames = [_frame(2, i) for i in range(10)]
        return await asyncio.gather(*(b.submit(f, frozenset({"predict"})) for f in frames))

    outs = asyncio.run(go())
    assert [o["predict"].tolist() for o in outs] == [[2.0 * i] * 2 for i in range(10)]
    assert sum(model.batches) == 20 and max(model.batches) <= 8
    assert len(model.batches) < 10  # merged


def test_one_poisoned_request_fails_alone() -> None:
    model = CountingModel()

    async def go() -> list[object]:
        b = Batcher(model, max_rows=64, inline=True)
        frames = [_frame(1, 1), _frame(1, -1), _frame(1, 2)]
        return await asyncio.gather(
            *(b.submit(f, frozenset({"predict"})) for f in frames), return_exceptions=True
        )

    a, bad, c = asyncio.run(go())
    assert isinstance(bad, RuntimeError)
    assert a["predict"].tolist() == [2.0] and c["predict"].tolist() == [4.0]  # type: ignore[index]


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_batches_form_under_concurrency_through_the_server(
    server: RunningServer, project: Project
) -> None:
    body = {"instances": [project.row(3)]}
    before = httpx.get(f"{server.url}/metrics").text

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as ac:
            rs = await asyncio.gather(
                *(ac.post("/v1/models/forest:predict", json=body) for _ in range(64))
            )
            return [r.status_code for r in rs]

    assert set(asyncio.run(burst())) == {200}
    after = httpx.get(f"{server.url}/metrics").text
    labels = {"endpoint": "forest", "version": "bcrf@1"}
    calls = _metric(after, "modelyard_batch_requests_count", **labels) - _metric(
        before, "modelyard_batch_requests_count", **labels
    )
    requests = _metric(after, "modelyard_batch_requests_sum", **labels) - _metric(
        before, "modelyard_batch_requests_sum", **labels
    )
    assert requests == 64 and calls < 64  # fewer model calls than requests


def test_cache_hit_miss_and_invalidation_on_plan_change(
    server: RunningServer, client: httpx.Client, project: Project
) -> None:
    def lookups() -> tuple[float, float]:
        text = client.get("/metrics").text
        return (
            _metric(text, "modelyard_cache_lookups_total", endpoint="cached", result="hit"),
            _metric(text, "modelyard_cache_lookups_total", endpoint="cached", result="miss"),
        )

    h0, m0 = lookups()
    body = {"instances": [project.row(7)]}
    as_rows = {"instances": [project.X.iloc[7].tolist()]}  # same input, other spelling
    first = client.post("/v1/models/cached:predict", json=body).json()
    second = client.post("/v1/models/cached:predict", json=as_rows).json()
    assert first["predictions"] == second["predictions"]
    h1, m1 = lookups()
    assert (h1 - h0, m1 - m0) == (1, 1)
    reg = project.registry()
    reg.deploy("bc@2", "cached", role="canary", weight=0.0, reason="test: plan change")
    reg.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        routes = client.get("/v1/models/cached").json()["routes"]
        if len(routes) == 2:
            break
        time.sleep(0.05)
    client.post("/v1/models/cached:predict", json=body)
    h2, m2 = lookups()
    assert (h2 - h1, m2 - m1) == (0, 1)  # invalidated: a miss again


def test_429_on_the_concurrency_limit_with_retry_after(
    server: RunningServer, project: Project
) -> None:
    from tests.serving.models import SLOW_ON

    slow = {"instances": [{**project.row(), "mean radius": SLOW_ON}]}
    fast = {"instances": [project.row()]}

    async def go() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as ac:
            first = asyncio.create_task(ac.post("/v1/models/throttled:predict", json=slow))
            await asyncio.sleep(0.3)  # the slow one is in flight
            second = await ac.post("/v1/models/throttled:predict", json=fast)
            return await first, second

    first, second = asyncio.run(go())
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["retry-after"] == "1"
    assert "concurrency limit of 1" in second.json()["error"]


def test_429_on_the_rate_limit(client: httpx.Client, project: Project) -> None:
    body = {"instances": [project.row()]}
    codes = [client.post("/v1/models/rated:predict", json=body).status_code for _ in range(4)]
    assert codes[:2] == [200, 200] and 429 in codes[2:]
    r = client.post("/v1/models/rated:predict", json=body)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert re.search(r"rate limit of 0.5 requests/s", r.json()["error"])
    assert 'modelyard_throttled_total{endpoint="rated"}' in client.get("/metrics").text
