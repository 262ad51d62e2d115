"""The journey's machinery: one project shared by the cells of a module (each cell its own model,
endpoint and dataset family), the `modelyard` CLI run in-process, the second identity that
approves, and one real `modelyard serve` started on first use and shared by every cell."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.journeys.cases import Case
from tests.support.cli import Ran, run_main
from tests.support.servers import served

AUTHOR = "data-scientist-ana"
REVIEWER = "reviewer-ravi"
OPERATOR = "operator-olu"


KPI_MODULE = """\
from pathlib import Path


def value(y, labels, proba):
    if (Path(__file__).parent / "kpi-down").exists():
        raise ZeroDivisionError("the KPI service is down")
    return float((labels == y).mean())
"""


def project_file(cases: list[Case]) -> str:
    """modelyard.yaml for every cell: loose limits (the cells recompute each figure and check
    it, the verdict follows from them), four eyes, every input logged, one-second windows."""
    models: dict[str, Any] = {}
    datasets: dict[str, Any] = {}
    endpoints: dict[str, Any] = {}
    for case in cases:
        classify = case.task == "classification"
        metric = "roc_auc" if classify else "r2"
        gates: dict[str, Any] = {
            "dataset": f"{case.name}-eval@1",
            "metrics": {
                "thresholds": {metric: {"min": 0.5 if classify else 0.0}},
                "non_inferiority": {metric: 1.0},
            },
            "schema": {},
        }
        if case.positive_label is not None:
            gates["positive_label"] = case.positive_label
        if case.segment:
            gates["segments"] = [
                {
                    "name": "awkward names",
                    "filter": case.segment,
                    "metric": "accuracy" if classify else "mae",
                    "min_rows": 10,
                    **({"min": 0.0} if classify else {}),
                }
            ]
        if classify:
            gates["fairness"] = {
                "attributes": list(case.protected),
                "metric": "selection_rate",  # the four-fifths rule
                "min_metric_ratio": 0.0,
                "demographic_parity_difference": 1.0,
            }
            gates["calibration"] = {"max_ece": 1.0}
            gates["robustness"] = {"max_rows": 100, "max_drop": 1.0}
        if case.kpi_function:
            gates["kpi"] = {"function": "journey_kpi:value"}
        models[case.name] = {
            "owner": "journeys@example.org",
            "task": case.task,
            "gates": gates,
            # the canary reads fewer columns than the champion: callers send the champion's
            # fields, which the candidate must not refuse (the default, reject, would 422)
            "inputs": {"extra_fields": "ignore"},
        }
        if not case.tag_after_add:  # one entry covers NAME-train and NAME-eval
            datasets[case.name] = {"target": case.target, "protected": list(case.protected)}
        endpoints[case.name] = {"prediction_log": {"input_sample": 1.0, "flush_every_s": 0.2}}
    doc = {
        "name": "journeys",
        "models": models,
        "datasets": datasets,
        # identities per command through MODELYARD_USER (see approve_as_second_identity)
        "identity": "os",
        "governance": {"approvals": {"required": 1, "four_eyes": True}},
        "endpoints": endpoints,
        "monitoring": {"window_s": 1, "grace_s": 0.2, "interval_s": 0.5},
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass
class Yard:
    """The shared project and, once a cell needs it, the shared server."""

    root: Path
    logs: Path
    stack: ExitStack = field(default_factory=ExitStack)
    base: str | None = None

    def server(self) -> str:
        """The base URL of the module's `modelyard serve` (started by the first cell that
        deploys; later cells' endpoints are picked up by its plan refresh)."""
        if self.base is None:
            self.base, _ = self.stack.enter_context(
                served(
                    self.root,
                    "--refresh",
                    "0.2",
                    log=self.logs / "server.log",
                    env={"MODELYARD_USER": "server"},
                )
            )
        return self.base

    def log_tail(self) -> str:
        log = self.logs / "server.log"
        return log.read_text()[-3000:] if log.exists() else ""


@dataclass
class Cli:
    """`modelyard …` in-process, as one identity (``MODELYARD_USER``) per command."""

    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch
    root: Path

    def __call__(self, *args: str, user: str = AUTHOR, ok: bool = True) -> Ran:
        ran = run_main(
            self.capsys,
            self.monkeypatch,
            *args,
            "-p",
            str(self.root),
            env={"MODELYARD_USER": user},
        )
        if ok:
            assert ran.returncode == 0, (args, ran.stdout[-2000:], ran.stderr[-2000:])
        return ran

    def json(self, *args: str, user: str = AUTHOR, code: int = 0) -> Any:
        ran = self(*args, "--json", user=user, ok=False)
        if ran.returncode != code:
            why: list[Any] = [ran.stdout[-3000:]]
            try:  # a gate report: name what did not pass
                checks = json.loads(ran.stdout)["checks"]
                why = [(c["name"], c["status"], c["message"]) for c in checks]
            except (ValueError, KeyError, TypeError):
                pass
            raise AssertionError((args, ran.returncode, why, ran.stderr[-3000:]))
        return json.loads(ran.stdout)


def approve_as_second_identity(cli: Cli, ref: str, comment: str) -> Any:
    """The four-eyes step in one place: the author is refused, another identity approves.

    Locally an identity is ``MODELYARD_USER`` per command; when approvals move to principals
    (API tokens of another principal), this is the one function to adapt."""
    refused = cli("approve", ref, "-m", "my own work", user=AUTHOR, ok=False)
    assert refused.returncode != 0 and "four" in (refused.stderr + refused.stdout).lower(), (
        refused.stdout,
        refused.stderr,
    )
    return cli.json("approve", ref, "-m", comment, user=REVIEWER)


def wait_for(predicate: Any, what: str, timeout_s: float = 30.0, every_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = predicate()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every_s)


def post(base: str, path: str, body: Any) -> httpx.Response:
    return httpx.post(f"{base}{path}", json=body, timeout=30)
