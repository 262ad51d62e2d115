"""`modelyard gate` through the real console script: exit codes, table, JSON, HTML file."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.gates.conftest import train_version

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "modelyard"

pytestmark = [
    pytest.mark.slow,  # real processes: each invocation pays the interpreter and imports
    pytest.mark.skipif(not BIN.exists(), reason="console script not installed"),
]


def gate(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELYARD_USER": "ci", "COLUMNS": "160", "NO_COLOR": "1"}
    env.pop("MODELYARD_PROJECT", None)
    return subprocess.run(
        [str(BIN), "gate", *args, "--project", str(project)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_gate_passes_fails_and_reports(gate_project: Callable[..., Any], tmp_path: Path) -> None:
    reg = gate_project()
    fair = train_version(reg)
    unfair = train_version(reg, biased=True)
    root = reg.settings.project_dir
    reg.close()

    html = tmp_path / "report.html"
    ok = gate(root, fair.ref, "--html", str(html))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASSED arrests@1" in ok.stdout and "validated" in ok.stdout
    assert "demographic parity difference" in ok.stdout and "≤ 0.1" in ok.stdout
    assert html.read_text().startswith("<!doctype html>")

    bad = gate(root, unfair.ref, "--json")
    assert bad.returncode == 1, bad.stderr
    doc = json.loads(bad.stdout)
    assert doc["passed"] is False and "fairness" in doc["failed_checks"]
    assert doc["schema_version"] == 1 and doc["transition"]["to"] == "rejected"
    assert len(doc["html_digest"]) == 64
    fairness = next(c for c in doc["checks"] if c["name"] == "fairness")
    assert any(f["ok"] is False and f["name"].startswith("colour") for f in fairness["figures"])


def test_gate_usage_errors_exit_2(gate_project: Callable[..., Any]) -> None:
    reg = gate_project()
    mv = train_version(reg)
    root = reg.settings.project_dir
    reg.close()
    missing = gate(root, "arrests@9")
    assert missing.returncode == 2 and "arrests" in missing.stderr
    typo = gate(root, mv.ref, "--check", "fairnes")
    assert typo.returncode == 2 and "did you mean 'fairness'" in typo.stderr
    text = (root / "modelyard.yaml").read_text().replace("max_ece", "max_ecee")
    (root / "modelyard.yaml").write_text(text)
    bad_config = gate(root, mv.ref)
    assert bad_config.returncode == 2
    assert "calibration.max_ecee: unknown key" in bad_config.stderr
    assert "did you mean 'max_ece'" in bad_config.stderr


KPI_MODULE = """\
from pathlib import Path


def value(y, labels, proba):
    if (Path(__file__).parent / "broken").exists():
        raise ZeroDivisionError("the KPI service is down")
    return float((labels == y).mean())
"""


def test_an_errored_gate_is_no_verdict_and_a_rejection_is_reconsidered_only_explicitly(
    gate_project: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In-process (the same entry point and exit codes as the script, without six start-ups)."""
    # `gate` registers the real-server load runner, a process-wide hook: keep it to this test
    monkeypatch.setattr("modelyard.gates.checks.load._RUNNER", [])
    from modelyard.registry.registry import Registry
    from tests.gates.conftest import DEFAULT_GATES, PROJECT_YAML
    from tests.support.cli import run_main

    def gate(project: Path, *args: str) -> Any:
        env = {"MODELYARD_USER": "ci", "COLUMNS": "160", "NO_COLOR": "1"}
        return run_main(capsys, monkeypatch, "gate", *args, "--project", str(project), env=env)

    reg = gate_project(DEFAULT_GATES + "kpi: {function: kpi_fn:value}\n")
    root = reg.settings.project_dir
    (root / "kpi_fn.py").write_text(KPI_MODULE)
    (root / "broken").touch()
    fair = train_version(reg)
    unfair = train_version(reg, biased=True)
    reg.close()

    errored = gate(root, fair.ref)
    assert errored.returncode == 3, errored.stdout + errored.stderr
    assert "NO VERDICT" in errored.stdout and "state unchanged" in errored.stdout
    (root / "broken").unlink()
    fixed = gate(root, fair.ref)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr  # proposed → validated

    assert gate(root, unfair.ref).returncode == 1  # a real verdict: rejected
    # the policy drops the fairness section: a pass no longer undoes the rejection silently
    lenient = 'dataset: arrests-eval@1\npositive_label: "Yes"\ncalibration: {max_ece: 0.5}\n'
    body = "\n".join("      " + line for line in lenient.splitlines())
    (root / "modelyard.yaml").write_text(PROJECT_YAML.format(gates=body))
    stays = gate(root, unfair.ref)
    assert stays.returncode == 4 and "stays rejected" in stays.stderr, stays.stdout
    assert gate(root, unfair.ref, "--reconsider").returncode == 2  # a reason is required
    again = gate(root, unfair.ref, "--reconsider", "--reason", "fairness owned by a later gate")
    assert again.returncode == 0, again.stdout + again.stderr

    with Registry.open(root, env={"MODELYARD_USER": "ci"}) as reg:
        states = {v: reg.model_version(v).state for v in (fair.ref, unfair.ref)}
        history = reg.store.versions.transitions_of(reg.model_version(unfair.ref).id)
    assert states == {fair.ref: "validated", unfair.ref: "validated"}
    moves = [(h.from_state, h.to_state) for h in history]
    assert moves[-3:] == [
        ("proposed", "rejected"),
        ("rejected", "proposed"),
        ("proposed", "validated"),
    ]
    assert "fairness owned by a later gate" in history[-2].reason
