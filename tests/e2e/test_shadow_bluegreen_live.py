"""Blue-green, shadow and the gate check on a real server process under generated load: the
switch and the rollback lose no request; a shadow never changes a response, and the shadow
report's figures are the ones the logged rows give; a route written into the store by hand to
an ungated version is refused while the rest keeps serving."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, update

from modelyard.orchestration.operations import blue_green, rollback, shadow
from modelyard.orchestration.shadow_report import read_entries, shadow_report
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store import schema as t
from tests.support import servers
from tests.support.load import FEATURES, Load

pytestmark = pytest.mark.slow
ID = re.compile(rb'"id":"[^"]*"')


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Registry, str, pd.DataFrame, dict[str, Any], Path]]:
    from sklego.datasets import load_arrests

    from modelyard.demo.training import fit
    from modelyard.gates.retrain import TrainingInputs

    df = pd.DataFrame(load_arrests(as_frame=True))
    reg = Registry.init(tmp_path / "p", env={"MODELYARD_USER": "ops"}, identity="os")
    sample = df[FEATURES].head(10)
    versions: dict[str, ModelVersion] = {}
    for name, c in (("blue", 1.0), ("green", 0.05), ("ungated", 2.0)):
        model = fit(TrainingInputs({"train": df}, {}, {"C": c}, 0))
        mv = reg.register_model(model, "arrests", sample)
        mv = reg.transition(mv, "validated", reason="gates")
        if name != "ungated":
            mv = reg.transition(mv, "approved", reason="review")
        versions[name] = mv
    reg.deploy(versions["blue"], "arrests", reason="first release")
    log_path = tmp_path / "server.log"
    with servers.served(
        tmp_path / "p", "--refresh", "0.2", log=log_path, env={"MODELYARD_USER": "ops"}
    ) as (base, _):
        yield reg, base, df, versions, log_path
    reg.close()


def test_blue_green_switch_and_rollback_under_load_lose_no_request(
    served: tuple[Registry, str, pd.DataFrame, dict[str, Any], Path],
) -> None:
    reg, base, df, v, _ = served
    with Load(base, df) as load:
        load.wait_for("arrests@1")
        result = blue_green(reg, v["green"].ref, "arrests", reason="release 2")
        assert result.standby == "arrests@1"
        load.wait_for("arrests@2")
        plan = httpx.get(f"{base}/v1/models/arrests").json()["routes"]
        assert {(r["model_version"], r["role"]) for r in plan} == {
            ("arrests@2", "production"),
            ("arrests@1", "fallback"),
        }, "the old champion stays loaded on the endpoint"
        back = rollback(reg, "arrests", reason="operator changed their mind")
        assert back.to_version == "arrests@1"
        load.wait_for("arrests@1")
    assert set(load.status) == {200}, load.status
    assert load.versions["arrests@2"] > 0


def _post_all(base: str, rows: list[dict[str, Any]]) -> list[bytes]:
    with httpx.Client(timeout=10) as c:
        out = []
        for row in rows:
            r = c.post(f"{base}/v1/models/arrests:predict", json={"instances": [row]})
            assert r.status_code == 200, r.text
            out.append(ID.sub(b'"id":""', r.content))
        return out


def _wait_shadow_plan(base: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        routes = httpx.get(f"{base}/v1/models/arrests").json()["routes"]
        if any(r["role"] == "shadow" for r in routes):
            return
        assert time.monotonic() < deadline, routes
        time.sleep(0.1)


def test_a_shadow_never_changes_a_response_and_its_report_matches_the_log(
    served: tuple[Registry, str, pd.DataFrame, dict[str, Any], Path],
) -> None:
    reg, base, df, v, _ = served
    rows = cast("list[dict[str, Any]]", df[FEATURES].iloc[::40].head(120).to_dict(orient="records"))
    alone = _post_all(base, rows)
    shadow(reg, v["green"].ref, "arrests", 1.0, reason="try green on live traffic")
    _wait_shadow_plan(base)
    mirrored = _post_all(base, rows)
    assert mirrored == alone, "byte-for-byte the champion's answers"

    deadline = time.monotonic() + 30
    while True:  # the log is flushed by a background task
        entries = read_entries(reg, "arrests")
        shadows = {e["id"]: e for e in entries if e["role"] == "shadow"}
        if len(shadows) >= len(rows):
            break
        assert time.monotonic() < deadline, f"{len(shadows)} shadow rows logged"
        time.sleep(0.2)
    report = shadow_report(reg, "arrests")

    champions = {e["id"]: e for e in entries if e["role"] != "shadow"}
    pairs = [(champions[i], s) for i, s in shadows.items() if i in champions]
    same = [c["output"]["predict"] == s["output"]["predict"] for c, s in pairs]
    c_ms = [c["latency_ms"] for c, _ in pairs]
    s_ms = [s["latency_ms"] for _, s in pairs]
    assert report.shadow == "arrests@2" and report.champion == "arrests@1"
    assert report.pairs == len(pairs) == len(rows)
    assert report.agreement == pytest.approx(sum(same) / len(same))
    assert report.latency_ms["champion"]["p50"] == pytest.approx(np.percentile(c_ms, 50))
    assert report.latency_ms["champion"]["p99"] == pytest.approx(np.percentile(c_ms, 99))
    assert report.latency_ms["shadow"]["p50"] == pytest.approx(np.percentile(s_ms, 50))
    assert report.latency_ms["shadow"]["p99"] == pytest.approx(np.percentile(s_ms, 99))
    logged = set(pairs[0][0]["output"])
    if "predict_proba" in logged:  # probabilities are compared when they were asked for
        diffs = [
            abs(a - b)
            for c, s in pairs
            for a, b in zip(
                np.ravel(c["output"]["predict_proba"]),
                np.ravel(s["output"]["predict_proba"]),
                strict=True,
            )
        ]
        assert report.score_diff is not None
        assert report.score_diff["max"] == pytest.approx(max(diffs))
    else:  # a V1 call asks for the labels only: nothing numeric to compare
        assert logged == {"predict"} and report.score_diff is None
    assert report.unanswered == 0 and report.shadow_errors == 0
    assert report.verdict.startswith(("promote", "do not promote"))
    stored = [r for r in reg.store.reports.of(v["green"].id) if r.kind == "shadow"]
    assert [r.id for r in stored] == [report.report_id]
    assert stored[0].summary["pairs"] == len(rows)


def _hand_route(reg: Registry, endpoint: str, mv: ModelVersion, role: str, weight: float) -> None:
    """Write a route straight into the store, bypassing every check (and bump the generation
    so servers look)."""
    now = dt.datetime.now(dt.UTC)
    known = reg.store.routes.generation(endpoint) > 0
    with reg.store.tx() as conn:
        if not known:
            conn.execute(insert(t.endpoints).values(name=endpoint, generation=0, updated_at=now))
        conn.execute(
            insert(t.routes).values(
                endpoint=endpoint, model_version_id=mv.id, role=role, weight=weight, created_at=now
            )
        )
        conn.execute(
            update(t.endpoints)
            .where(t.endpoints.c.name == endpoint)
            .values(generation=t.endpoints.c.generation + 1)
        )


def _wait_log(path: Path, *needles: str) -> None:
    deadline = time.monotonic() + 30
    while not all(n in path.read_text() for n in needles):
        assert time.monotonic() < deadline, path.read_text()[-3000:]
        time.sleep(0.1)


def test_a_hand_written_route_to_an_ungated_version_is_refused_by_the_running_server(
    served: tuple[Registry, str, pd.DataFrame, dict[str, Any], Path],
) -> None:
    reg, base, df, v, log_path = served
    _hand_route(reg, "arrests", v["ungated"], "canary", 0.5)
    _wait_log(log_path, "route refused", "arrests@3 is validated")
    rows = df[FEATURES].head(100).to_dict(orient="records")
    with httpx.Client(timeout=10) as c:
        answers = [
            c.post(f"{base}/v1/models/arrests:predict", json={"instances": [row]}) for row in rows
        ]
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["model_version"] for a in answers} == {"arrests@1"}, "the rest keeps serving"

    _hand_route(reg, "ghost", v["ungated"], "production", 1.0)
    deadline = time.monotonic() + 30
    while True:  # new endpoints are discovered on the refresher's next discovery pass
        ready = httpx.get(f"{base}/v2/models/ghost/ready")
        if ready.status_code != 404:
            break
        assert time.monotonic() < deadline, ready.text
        time.sleep(0.2)
    assert ready.status_code == 503, ready.text
    assert (
        '"endpoint": "ghost"' in log_path.read_text()
        or '"endpoint":"ghost"' in log_path.read_text()
    )
