"""The CLI through its real entry point: commands, JSON output, exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

MODELYARD = str(Path(sys.executable).with_name("modelyard"))


def my(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "MODELYARD_USER": "cli-tester", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [MODELYARD, *args], cwd=cwd, capture_output=True, text=True, env=full_env, timeout=120
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    assert my("init", str(tmp_path / "p"), "--identity", "os", cwd=tmp_path).returncode == 0
    return tmp_path / "p"


def test_init_writes_a_four_eyes_approval_policy(project: Path) -> None:
    from modelyard.core.project import load_project

    policy = load_project(project).governance.approvals
    assert policy.required == 1 and policy.four_eyes


def test_every_command_has_help_with_an_example(tmp_path: Path) -> None:
    for cmd in (
        ["init"],
        ["data", "add"],
        ["data", "list"],
        ["data", "show"],
        ["runs", "list"],
        ["runs", "show"],
        ["models", "list"],
        ["models", "show"],
        ["lineage"],
        ["doctor"],
        ["demo"],
    ):
        out = my(*cmd, "--help", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert "Example" in out.stdout, cmd


def test_data_add_list_show_and_lineage_as_json(project: Path) -> None:
    from sklego.datasets import load_arrests

    pd.DataFrame(load_arrests(as_frame=True)).to_csv(project / "arrests.csv", index=False)
    added = my("data", "add", "arrests.csv", "--name", "arrests", "--json", cwd=project)
    assert added.returncode == 0, added.stderr
    first = json.loads(added.stdout)
    assert first["ref"] == "arrests@1" and first["rows"] == 5226 and first["created"]
    again = json.loads(
        my("data", "add", "arrests.csv", "-n", "arrests", "--json", cwd=project).stdout
    )
    assert again["ref"] == "arrests@1" and not again["created"]
    listed = json.loads(my("data", "list", "--json", cwd=project).stdout)
    assert [d["ref"] for d in listed] == ["arrests@1"]
    shown = json.loads(my("data", "show", "arrests@1", "--json", cwd=project).stdout)
    assert {c["name"] for c in shown["schema"]["columns"]} >= {"colour", "age", "released"}
    lin = json.loads(my("lineage", "dataset", "arrests@1", "--json", cwd=project).stdout)
    assert lin["dataset"]["digest"] == first["digest"] and lin["runs"] == []
    human = my("data", "list", cwd=project)
    assert "arrests@1" in human.stdout


def test_errors_are_clear_with_usage_exit_codes(project: Path) -> None:
    missing = my("data", "add", "nope.csv", "--name", "x", cwd=project)
    assert missing.returncode == 1 and "no such file" in missing.stderr
    bad_ref = my("models", "show", "m@x", cwd=project)
    assert bad_ref.returncode == 2 and "positive integer" in bad_ref.stderr
    usage = my("data", "add", cwd=project)
    assert usage.returncode == 2 and "Missing argument" in usage.stderr
    (project / "modelyard.yaml").write_text("models:\n  m:\n    ownr: x\n")
    config = my("models", "list", cwd=project)
    assert config.returncode == 2 and "did you mean 'owner'" in config.stderr
    assert "Traceback" not in missing.stderr + bad_ref.stderr + config.stderr


def test_doctor_reports_a_healthy_store_then_a_corrupted_artifact(project: Path) -> None:
    from sklego.datasets import load_arrests

    pd.DataFrame(load_arrests(as_frame=True)).to_parquet(project / "a.parquet")
    assert my("data", "add", "a.parquet", "-n", "a", cwd=project).returncode == 0
    ok = my("doctor", "--json", cwd=project)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"]
    objects = project / ".modelyard" / "artifacts" / "objects"
    victim = next(p for p in objects.rglob("*") if p.is_file())
    victim.write_bytes(b"garbage")
    bad = my("doctor", "--json", cwd=project)
    report = json.loads(bad.stdout)
    assert bad.returncode == 1 and victim.name in report["problems"][0]


def test_key_generate_writes_a_private_key_file(tmp_path: Path) -> None:
    out = my("key", "generate", "-o", str(tmp_path / "k"), cwd=tmp_path)
    assert out.returncode == 0
    assert oct((tmp_path / "k").stat().st_mode & 0o777) == "0o600"


def test_the_entry_point_registers_every_command_module() -> None:
    import pkgutil

    import modelyard.cli as pkg

    on_disk = {m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("cmd_")}
    probe = "import sys, modelyard.cli.main; print(' '.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert {m.rsplit(".", 1)[1] for m in loaded if m.startswith("modelyard.cli.cmd_")} == on_disk


def test_python_dash_m_runs_the_full_app(tmp_path: Path) -> None:
    """The image's entry point (`python -m modelyard.cli.main`) lists the same commands."""
    out = subprocess.run(
        [sys.executable, "-m", "modelyard.cli.main", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    assert out.returncode == 0 and " serve " in out.stdout and " demo " in out.stdout
