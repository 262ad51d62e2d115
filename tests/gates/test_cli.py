"""`modelyard gate` through the real console script: exit codes, table, JSON, HTML file."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

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


def test_gate_passes_fails_and_reports(gate_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
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


def test_gate_usage_errors_exit_2(gate_project) -> None:  # type: ignore[no-untyped-def]
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
