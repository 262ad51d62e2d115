"""Live monitoring on real `modelyard serve` processes: two replicas (``MODELYARD_REPLICA``)
on one store (a SQLite file, PostgreSQL) write windows that hold exactly the traffic they
answered (requests, errors, CPU), and that merge to the sketch of all the traffic (per-feature
and prediction counts).

The endpoint's production version fails on a third of the rows (ages divisible by 3, see
tests/support/flaky_model.py); a healthy version shadows it, so every answered request is also
counted under the shadow version."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

import httpx
import pandas as pd
import pytest

from modelyard.core.monitoring_records import StoredWindow
from modelyard.monitoring.sketch import WindowSketch
from modelyard.monitoring.version_baseline import BaselineCache, prediction_scalar
from modelyard.monitoring.window import merge_windows
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.windows import WindowStore
from tests.support.servers import served

pytestmark = pytest.mark.slow
FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
PROJECT = """\
identity: os
name: live
monitoring: {window_s: 2, grace_s: 0.5, sample_size: 0}
"""


class Project:
    """A project with a flaky production version shadowed by a healthy one, on ``store_url``."""

    def __init__(self, root: Path, store_url: str | None) -> None:
        from modelyard.demo.data import arrests
        from modelyard.demo.training import fit
        from modelyard.gates.retrain import TrainingInputs
        from tests.support.flaky_model import FailsOnSomeRows

        self.root = root
        self.env = {"MODELYARD_USER": "ops"}
        if store_url:
            self.env["MODELYARD_STORE_URL"] = store_url
        root.mkdir(parents=True)
        (root / "modelyard.yaml").write_text(PROJECT, encoding="utf-8")
        self.df = arrests()
        self.reg = Registry.init(root, env=self.env, identity="os")
        ds = self.reg.add_dataset(self.df, "arrests-train")
        with self.reg.start_run(model="arrests", params={}, seed=0) as run:
            run.use_dataset(ds, role="train")
            self.model = fit(TrainingInputs({"train": self.df}, {"train": ds.ref}, {}, 0))
            sample = self.df[FEATURES][self.df["age"] % 3 != 0].head(20)
            self.healthy = run.log_model(self.model, sample_input=sample)
            self.flaky = run.log_model(FailsOnSomeRows(self.model), sample_input=sample, trust=True)
        for mv in (self.healthy, self.flaky):
            self.reg.transition(mv, "validated", reason="gates")
            self.reg.transition(mv, "approved", reason="review")
        self.reg.deploy(self.flaky, "arrests", reason="first release")
        self.reg.deploy(self.healthy, "arrests", role="shadow", reason="shadow")

    def serve(self, stack: ExitStack, replicas: list[str]) -> list[str]:
        """Start one `modelyard serve` process per replica id, each ready before the next; the
        stack stops them with SIGTERM (a graceful stop, which writes the open windows)."""
        return [
            stack.enter_context(
                served(
                    self.root,
                    "--refresh",
                    "0.2",
                    log=self.root.parent / f"server-{replica}.log",
                    env={**self.env, "MODELYARD_REPLICA": replica},
                )
            )[0]
            for replica in replicas
        ]

    def direct_sketch(self, mv: ModelVersion, rows: pd.DataFrame) -> WindowSketch:
        """The version's baseline window filled row by row from the rows themselves."""
        baseline = BaselineCache(self.reg).get(mv)
        assert baseline is not None
        sketch = baseline.new_window(sample_size=0)
        predictions = prediction_scalar({"predict": self.model.predict(rows[FEATURES])})
        for row, p in zip(
            cast("list[dict[str, Any]]", rows[FEATURES].to_dict(orient="records")),
            predictions,
            strict=True,
        ):
            sketch.update(row, p.item() if hasattr(p, "item") else p)
        return sketch

    def windows(self, mv: ModelVersion) -> list[StoredWindow]:
        return WindowStore(self.reg.store).windows(version_id=mv.id)

    def wait_for(self, counts: dict[int, int], timeout_s: float = 60.0) -> None:
        """Until the stored windows of each version id hold ``counts`` requests (the server
        writes a window once it closed: width 2 s + grace 0.5 s + a flush every 1 s)."""
        store = WindowStore(self.reg.store)
        deadline = time.monotonic() + timeout_s
        while True:
            got = {vid: int(store.usage(vid).requests) for vid in counts}
            if got == counts:
                return
            assert time.monotonic() < deadline, f"windows hold {got}, expected {counts}"
            time.sleep(0.5)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Callable[[str | None], Project]]:
    made: list[Project] = []

    def make(store_url: str | None) -> Project:
        made.append(Project(tmp_path / "p", store_url))
        return made[-1]

    yield make
    for p in made:
        p.reg.close()


def send(bases: list[str], rows: pd.DataFrame) -> dict[int, int]:
    """Post the rows one request each, alternating between servers; count the statuses."""
    status: dict[int, int] = {}
    with httpx.Client(timeout=30) as client:
        for i, row in enumerate(rows[FEATURES].to_dict(orient="records")):
            url = f"{bases[i % len(bases)]}/v1/models/arrests:predict"
            code = client.post(url, json={"instances": [row]}).status_code
            status[code] = status.get(code, 0) + 1
    return status


def check_windows(p: Project, rows: pd.DataFrame, replicas: set[str]) -> None:
    ok = rows[rows["age"] % 3 != 0]
    flaky, healthy = p.windows(p.flaky), p.windows(p.healthy)
    assert {w.replica for w in flaky} == replicas
    assert sum(w.requests for w in flaky) == len(rows)
    assert sum(w.errors for w in flaky) == len(rows) - len(ok)
    assert sum(w.errors for w in healthy) == 0
    assert sum(w.cpu_s or 0.0 for w in flaky) > 0
    assert sum(w.cpu_s or 0.0 for w in healthy) > 0

    merged = merge_windows(WindowSketch.from_json(w.sketch) for w in flaky)
    assert merged is not None
    want = p.direct_sketch(p.flaky, ok)
    assert merged.columns == want.columns  # failed requests carry no rows
    assert (merged.requests, merged.errors) == (len(rows), len(rows) - len(ok))

    shadow = merge_windows(WindowSketch.from_json(w.sketch) for w in healthy)
    assert shadow is not None
    want = p.direct_sketch(p.healthy, ok)
    assert shadow.requests == len(ok)
    assert shadow.columns == want.columns
    assert shadow.prediction == want.prediction


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_replicas_on_one_store_merge_to_the_sketch_of_all_the_traffic(
    project: Callable[[str | None], Project], backend: str, request: pytest.FixtureRequest
) -> None:
    url = None if backend == "sqlite" else str(request.getfixturevalue("pg_schema_url"))
    p = project(url)
    rows = p.df.iloc[100:220]
    n_ok = int((rows["age"] % 3 != 0).sum())
    with ExitStack() as stack:
        bases = p.serve(stack, ["replica-a", "replica-b"])
        status = send(bases, rows)
        assert status == {200: n_ok, 500: len(rows) - n_ok}
        # windows close 2.5 s after they end and are written within a flush (1 s), live
        p.wait_for({p.flaky.id: len(rows), p.healthy.id: n_ok})
    check_windows(p, rows, {"replica-a", "replica-b"})  # stopping added nothing twice
