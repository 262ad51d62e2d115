"""Three stateless `modelyard serve` replicas on one PostgreSQL schema and one S3 bucket:
same answers, plan changes reach all of them, their windows merge into the single-process
sketch of the same traffic, and the rollout controller fails over when its leader is killed."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy import select

from modelyard.registry.registry import Registry
from tests.support.pg import fresh_schema
from tests.support.s3server import S3Endpoint, s3_endpoint  # noqa: F401
from tests.support.servers import MODELYARD, Children, free_port, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.s3]
FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
REFRESH_S = 0.2
PROJECT = """\
identity: os
name: replicas
endpoints:
  arrests:
    prediction_log: {enabled: false}
monitoring:
  window_s: 2
  grace_s: 0.5
  sample_size: 0
"""


@pytest.fixture(scope="module")
def module_pg_url(postgres_url: str) -> Iterator[str]:
    """One fresh PostgreSQL schema for the module's cluster (dropped afterwards)."""
    with fresh_schema(postgres_url) as url:
        yield url


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    module_pg_url: str,
    s3_endpoint: S3Endpoint,  # noqa: F811
) -> Iterator[dict[str, Any]]:
    """Three replicas (started once for the module) on one schema and one bucket."""
    from modelyard.demo.data import arrests
    from modelyard.demo.training import fit
    from modelyard.gates.retrain import TrainingInputs

    env = {
        "MODELYARD_USER": "ops",
        "MODELYARD_STORE_URL": module_pg_url,
        "MODELYARD_ARTIFACTS": s3_endpoint.url(f"replicas-{uuid.uuid4().hex[:8]}"),
        "MODELYARD_S3_ENDPOINT_URL": s3_endpoint.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3_endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_endpoint.secret_key,
    }
    tmp_path = tmp_path_factory.mktemp("replicas")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "modelyard.yaml").write_text(PROJECT)
    df = pd.DataFrame(arrests())
    reg = Registry.init(proj, env=env, identity="os")
    ds = reg.add_dataset(df, name="arrests", source="sklego")
    versions = []
    for c in (1.0, 0.01):
        with reg.start_run(model="arrests", seed=0) as run:
            run.use_dataset(ds.ref, role="train")  # the baseline comes from this data
            model = fit(TrainingInputs({"train": df}, {}, {"C": c}, 0))
            mv = run.log_model(model, sample_input=df[FEATURES].head(20))
        reg.transition(mv, "validated", reason="gates")
        versions.append(reg.transition(mv, "approved", reason="review", actor="reviewer"))
    reg.deploy(versions[0], "arrests", reason="release")
    children = Children(env)

    def start(args: list[str], name: str, extra: dict[str, str] | None = None) -> Any:
        return children.start([MODELYARD, *args, "-p", str(proj)], tmp_path / f"{name}.log", extra)

    bases = []
    for i in range(3):
        port = free_port()
        p = start(
            ["serve", "--port", str(port), "--refresh", str(REFRESH_S)],
            f"replica{i}",
            {"MODELYARD_REPLICA": f"r{i}"},
        )
        bases.append((f"http://127.0.0.1:{port}", p, tmp_path / f"replica{i}.log"))
    for base, p, log in bases:
        wait_ready(base, p, log=log)
    try:
        yield {
            "reg": reg,
            "df": df,
            "versions": versions,
            "bases": [b for b, _, _ in bases],
            "start": start,
            "tmp": tmp_path,
        }
    finally:
        children.stop(timeout_s=20)
        reg.close()


def _rows(df: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    return [
        {str(k): (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in df[FEATURES].head(n).to_dict("records")
    ]


def test_three_replicas_answer_alike_follow_plan_changes_and_merge_windows(
    cluster: dict[str, Any],
) -> None:
    from modelyard.monitoring.sketch import WindowSketch
    from modelyard.monitoring.version_baseline import build_baseline, prediction_scalar
    from modelyard.monitoring.window import merge_windows
    from modelyard.orchestration.operations import rollback
    from modelyard.store.windows import WindowStore

    reg, bases = cluster["reg"], cluster["bases"]
    v1, v2 = cluster["versions"]
    rows = _rows(cluster["df"], 90)
    clients = [httpx.Client(base_url=b, timeout=30) for b in bases]
    try:
        # round robin: request i goes to replica i % 3; every replica also answers row 0
        answers: list[Any] = []
        for i, row in enumerate(rows):
            r = clients[i % 3].post("/v1/models/arrests:predict", json={"instances": [row]})
            assert r.status_code == 200, r.text
            answers.append(r.json()["predictions"][0])
        same = [
            c.post("/v1/models/arrests:predict", json={"instances": rows[:5]}).json()["predictions"]
            for c in clients
        ]
        assert same[0] == same[1] == same[2] == answers[:5]

        # the windows the three replicas wrote merge into the single-process sketch
        store = WindowStore(reg.store)
        expected_requests = len(rows) + 15
        deadline = time.monotonic() + 60
        while True:
            stored = store.windows("arrests", version_id=v1.id)
            if sum(w.requests for w in stored) >= expected_requests:
                break
            assert time.monotonic() < deadline, f"windows hold {stored!r}"
            time.sleep(0.5)
        assert {w.replica for w in stored} == {"r0", "r1", "r2"}
        baseline = build_baseline(reg, v1)
        assert baseline is not None
        merged = merge_windows(WindowSketch.from_json(w.sketch, baseline.layout) for w in stored)
        assert merged is not None
        sent = pd.DataFrame(rows + rows[:5] * 3)[FEATURES]
        preds = prediction_scalar({"predict": answers + answers[:5] * 3})
        single = baseline.new_window(sample_size=0)
        single.update_batch(sent, predictions=preds, n_jobs=1)
        assert merged.requests == single.requests == expected_requests
        assert merged.columns == single.columns
        assert merged.prediction == single.prediction

        # a deploy, then a rollback, reach every replica (bound: refresh + model load)
        for target in (v2, v1):
            if target is v2:
                reg.deploy(v2, "arrests", reason="new champion")
            else:
                rollback(reg, "arrests", reason="back", to=v1.ref)
            deadline = time.monotonic() + 60
            seen: set[str] = set()
            while seen != {target.ref}:
                seen = {
                    c.post("/v1/models/arrests:predict", json={"instances": rows[:1]}).headers[
                        "x-model-version"
                    ]
                    for c in clients
                }
                assert time.monotonic() < deadline, f"replicas serve {seen}, not {target.ref}"
                time.sleep(REFRESH_S / 2)
    finally:
        for c in clients:
            c.close()


def test_the_rollout_controller_fails_over_when_its_leader_is_killed(
    cluster: dict[str, Any],
) -> None:
    from modelyard.orchestration.canary import LEASE
    from modelyard.store import schema as t

    reg = cluster["reg"]
    metrics = [f"--metrics-url={b}/metrics" for b in cluster["bases"]]
    controllers = [
        cluster["start"](["rollout", "run", "--interval", "0.5", *metrics], f"controller{i}")
        for i in range(2)
    ]

    def holder() -> tuple[str, Any] | None:
        with reg.store.tx() as conn:
            row = conn.execute(
                select(t.leases.c.owner, t.leases.c.expires_at).where(t.leases.c.name == LEASE)
            ).first()
        return None if row is None else (row.owner, row.expires_at)

    deadline = time.monotonic() + 60
    while (h := holder()) is None:
        assert time.monotonic() < deadline, "no controller took the lease"
        time.sleep(0.3)
    owner = h[0]
    pids = {p.pid: p for p in controllers}
    leader_pid = int(owner.rsplit(":", 1)[1])
    assert leader_pid in pids, f"lease owner {owner} is not one of the controllers"
    os.kill(leader_pid, signal.SIGKILL)  # no clean hand-back: the lease must expire
    pids[leader_pid].wait(timeout=10)
    (other,) = [p for p in controllers if p.pid != leader_pid]
    deadline = time.monotonic() + 60  # TTL (15 s) + one interval, with room for a slow machine
    while True:
        h = holder()
        if h is not None and h[0].endswith(f":{other.pid}"):
            break
        assert other.poll() is None, "the standby controller exited"
        assert time.monotonic() < deadline, f"the lease stayed with {h}"
        time.sleep(0.5)
