"""Canaries on a real server process under generated load: a candidate that errors on part of
its inputs is rolled back by the controller; a healthy one is promoted to 100 % step by step."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from modelyard.core.rollout_config import RolloutPolicy
from modelyard.registry.registry import Registry
from modelyard.rollout.canary import Controller, start
from modelyard.rollout.signals import PrometheusScrape
from modelyard.store.rollouts import RolloutStore
from tests.support.servers import free_port, wait_ready

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
POLICY = RolloutPolicy(steps=(0.3, 0.6, 1.0), interval_s=2.0, min_requests=15, failure_limit=2)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Registry, str, pd.DataFrame, dict[str, Any]]]:
    from sklego.datasets import load_arrests

    from modelyard.demo.training import fit
    from modelyard.gates.retrain import TrainingInputs
    from tests.support.flaky_model import FailsOnSomeRows

    df = pd.DataFrame(load_arrests(as_frame=True))
    reg = Registry.init(tmp_path / "p", env={"MODELYARD_USER": "ops"})
    good = fit(TrainingInputs({"train": df}, {}, {}, 0))
    sample = df[FEATURES][df["age"] % 3 != 0].head(10)
    versions = {
        "champion": reg.register_model(good, "arrests", sample),
        "flaky": reg.register_model(FailsOnSomeRows(good), "arrests", sample, trust=True),
        "healthy": reg.register_model(
            fit(TrainingInputs({"train": df}, {}, {"C": 0.5}, 0)), "arrests", sample
        ),
    }
    for mv in versions.values():
        reg.transition(mv, "validated", reason="gates")
        reg.transition(mv, "approved", reason="review")
    reg.deploy(versions["champion"], "arrests", reason="first release")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MODELYARD_USER": "ops"}
    log = (tmp_path / "server.log").open("wb")  # never a pipe: a full pipe blocks the server
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("modelyard")),
            "serve",
            "--port",
            str(port),
            "--refresh",
            "0.2",
            "-p",
            str(tmp_path / "p"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, proc, log=tmp_path / "server.log")
    yield reg, base, df, versions
    proc.terminate()
    proc.wait(timeout=15)
    log.close()
    reg.close()


class Load:
    """Two client threads posting single rows until stopped; counts answers by status."""

    def __init__(self, base: str, df: pd.DataFrame) -> None:
        rows = df[FEATURES].head(400).to_dict(orient="records")
        self.rows = rows
        self.url = f"{base}/v1/models/arrests:predict"
        self.status: Counter[int] = Counter()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(2)]

    def _run(self, k: int) -> None:
        with httpx.Client(timeout=10) as c:
            i = k
            while not self.stop.is_set():
                r = c.post(self.url, json={"instances": [self.rows[i % len(self.rows)]]})
                self.status[r.status_code] += 1
                i += 2

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def _drive(reg: Registry, base: str, rid: int) -> str:
    ctl = Controller(reg, PrometheusScrape([f"{base}/metrics"]))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ctl.tick()
        status = RolloutStore(reg.store).get(rid)["status"]
        if status != "running":
            return str(status)
        time.sleep(0.5)
    return "timeout"


def test_an_erring_canary_is_rolled_back_by_the_controller(served) -> None:  # type: ignore[no-untyped-def]
    reg, base, df, v = served
    rid = start(reg, v["flaky"].ref, "arrests", POLICY)
    with Load(base, df) as load:
        outcome = _drive(reg, base, rid)
    assert outcome == "rolled_back"
    assert load.status[500] > 0, "the canary really failed some requests"
    plan = [(r["version"], r["role"]) for r in reg.store.routes("arrests")]
    assert plan == [(1, "production")]
    row = RolloutStore(reg.store).get(rid)
    last = [h for h in row["history"] if h["kind"] == "analysis"][-1]
    assert last["figures"]["canary_error_rate"] > POLICY.max_error_rate


def test_a_healthy_canary_reaches_full_production(served) -> None:  # type: ignore[no-untyped-def]
    reg, base, df, v = served
    rid = start(reg, v["healthy"].ref, "arrests", POLICY)
    with Load(base, df) as load:
        outcome = _drive(reg, base, rid)
    assert outcome == "promoted"
    assert set(load.status) == {200}, load.status
    plan = [(r["version"], r["role"]) for r in reg.store.routes("arrests")]
    assert plan == [(3, "production")]
