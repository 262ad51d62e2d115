"""`modelyard serve --monitor`: the live monitor runs inside the server process. A champion that
starts failing on live traffic raises the emergency error-rate alert from the server's own
windows, and the rollback playbook returns the endpoint to the last-known-good version — no
other process involved."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import pandas as pd
import pytest

from modelyard.registry.registry import ModelVersion, Registry
from tests.support.servers import served

pytestmark = pytest.mark.slow
FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
PROJECT = """\
identity: os
models:
  arrests: {owner: risk@example.org}
monitoring:
  window_s: 1
  grace_s: 0.3
  interval_s: 0.5
  alerts:
    - {name: errors, signal: error_rate, threshold: 0.05, tier: emergency, min_requests: 10}
playbooks:
  back-to-safety:
    when: {rules: [errors]}
    actions: [{do: rollback}]
"""


def _logged(reg: Registry, ds: str, model: object) -> ModelVersion:
    """Registered by a training run that read ``ds`` (so the version has a monitoring baseline)."""
    df = reg.load_dataset(ds)
    sample = df[FEATURES][df["age"] % 3 != 0].head(10)  # rows the flaky model can score
    with reg.start_run(model="arrests", params={}, seed=0) as run:
        run.use_dataset(ds, role="train")
        mv = run.log_model(model, sample_input=sample, trust=True)
    reg.transition(mv, "validated", reason="gates")
    reg.transition(mv, "approved", reason="review")
    return mv


def test_a_failing_champion_is_rolled_back_by_the_monitor_inside_the_server(
    tmp_path: Path,
) -> None:
    from sklego.datasets import load_arrests

    from modelyard.demo.training import fit
    from modelyard.gates.retrain import TrainingInputs
    from modelyard.orchestration.operations import champion
    from modelyard.store.alerts import AlertStore
    from modelyard.store.playbooks import PlaybookStore
    from tests.support.flaky_model import FailsOnSomeRows

    df = pd.DataFrame(load_arrests(as_frame=True))
    project = tmp_path / "p"
    reg = Registry.init(project, env={"MODELYARD_USER": "ops"}, identity="os")
    (project / "modelyard.yaml").write_text(PROJECT)
    reg.close()
    reg = Registry.open(project, env={"MODELYARD_USER": "ops"})
    ds = reg.add_dataset(df, "arrests").ref
    good = fit(TrainingInputs({"train": df}, {}, {}, 0))
    safe = _logged(reg, ds, good)
    flaky = _logged(reg, ds, FailsOnSomeRows(good))
    reg.deploy(safe, "arrests", reason="first release")
    reg.deploy(flaky, "arrests", reason="the release that breaks")

    with (
        reg,
        served(
            project,
            *("--refresh", "0.2", "--monitor"),
            log=tmp_path / "server.log",
            env={"MODELYARD_USER": "server"},
        ) as (base, _),
    ):
        rows = df[FEATURES].head(300).to_dict(orient="records")
        status: Counter[int] = Counter()
        deadline = time.monotonic() + 90
        with httpx.Client(timeout=10) as client:
            i = 0
            while time.monotonic() < deadline:
                r = client.post(
                    f"{base}/v1/models/arrests:predict", json={"instances": [rows[i % 300]]}
                )
                status[r.status_code] += 1
                i += 1
                current = champion(reg, "arrests")
                if current is not None and current.id == safe.id:
                    break
        assert champion(reg, "arrests").id == safe.id, (  # type: ignore[union-attr]
            f"not rolled back; answers {dict(status)}; "
            + (tmp_path / "server.log").read_text()[-2000:]
        )
        assert status[500] > 0, "the flaky champion failed on live traffic first"
        fired = AlertStore(reg.store).find(endpoint="arrests")
        assert [a.rule for a in fired] == ["errors"] and fired[0].tier == "emergency"
        actions = PlaybookStore(reg.store).history(endpoint="arrests")
        assert [(a.action, a.status) for a in actions] == [("rollback", "done")]
        assert actions[0].alert_id == fired[0].id
        # the rollback reaches the running server (it loads the safe version again, then
        # swaps the plan): from then on the failures stop
        until = time.monotonic() + 30
        while time.monotonic() < until:
            r = httpx.post(f"{base}/v1/models/arrests:predict", json={"instances": [rows[1]]})
            if r.headers.get("x-model-version") == safe.ref:
                break
            time.sleep(0.2)
        after = [
            httpx.post(
                f"{base}/v1/models/arrests:predict", json={"instances": [rows[k]]}, timeout=10
            )
            for k in range(30)
        ]
        assert {r.status_code for r in after} == {200}, (
            [(r.status_code, r.text[:200], dict(r.headers)) for r in after if r.status_code != 200][
                :3
            ],
            reg.store.routes.all("arrests"),
            (tmp_path / "server.log").read_text()[-3000:],
        )
        assert {r.headers["x-model-version"] for r in after} == {safe.ref}
