"""Governance and lifecycle verbs through the real entry point, as two different people."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelyard.registry.registry import Registry

MODELYARD = str(Path(sys.executable).with_name("modelyard"))


def my(project: Path, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELYARD_USER": user, "COLUMNS": "200"}
    return subprocess.run(
        [MODELYARD, *args, "-p", str(project)], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.slow
def test_author_cannot_approve_reviewer_can_then_deploy_rollback_and_audit(tmp_path: Path) -> None:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    project = tmp_path / "p"
    project.mkdir()
    (project / "modelyard.yaml").write_text(
        "identity: os\n"
        "models:\n  wine: {owner: team-wine}\ngovernance:\n  approvals: {required: 1}\n"
    )
    X, y = load_wine(return_X_y=True, as_frame=True)
    with Registry.open(project, env={"MODELYARD_USER": "alice"}) as reg:
        for depth in (1, 2):
            mv = reg.register_model(
                DecisionTreeClassifier(max_depth=depth).fit(X, y), "wine", X.head()
            )
            reg.transition(mv, "validated", reason="gates passed")
    own = my(project, "alice", "approve", "wine@1", "-m", "mine")
    assert own.returncode == 1 and "four eyes" in own.stderr
    for ref in ("wine@1", "wine@2"):
        ok = my(project, "bob", "approve", ref, "-m", "reviewed", "--json")
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["state"] == "approved"
    assert my(project, "dave", "deploy", "wine@1", "--to", "wine").returncode == 0
    dep = my(project, "dave", "deploy", "wine@2", "--to", "wine", "--json")
    assert json.loads(dep.stdout)["plan"] == [
        {"version": "wine@2", "role": "production", "weight": 1.0}
    ]
    back = json.loads(my(project, "dave", "rollback", "wine", "-m", "p99 doubled", "--json").stdout)
    assert back == {"endpoint": "wine", "from": "wine@2", "to": "wine@1"}
    cat = json.loads(my(project, "dave", "catalog", "--json").stdout)
    assert cat[0]["owner"] == "team-wine" and cat[0]["status"] == "active" and not cat[0]["ghosts"]
    audit = json.loads(my(project, "eve", "audit", "show", "--model", "wine@1", "--json").stdout)
    assert ("bob", "model.approve") in {(e["actor"], e["action"]) for e in audit}
    verify = my(project, "eve", "audit", "verify", "--json")
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"]
    retire = my(project, "dave", "retire", "wine@2", "-m", "superseded")
    assert retire.returncode == 0 and "retired" in retire.stdout
    token = my(project, "admin", "token", "create", "--name", "ci", "--role", "viewer", "--json")
    assert json.loads(token.stdout)["token"].startswith("my_")
    bad_role = my(project, "admin", "token", "create", "--name", "x", "--role", "god")
    assert bad_role.returncode == 2 and "unknown role" in bad_role.stderr
