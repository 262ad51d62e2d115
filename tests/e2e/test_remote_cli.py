"""CLI verbs pointed at a server (MODELYARD_SERVER + MODELYARD_TOKEN): the server's permission
table decides, and the audit log names the token's holder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelyard.registry.registry import Registry
from modelyard.security import tokens
from tests.support.servers import served

pytestmark = pytest.mark.slow
EXE = str(Path(sys.executable).with_name("modelyard"))


def test_management_verbs_through_a_server_obey_the_role_table(tmp_path: Path) -> None:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True, as_frame=True)
    project = tmp_path / "p"
    with Registry.init(project, env={"MODELYARD_USER": "alice"}, identity="os") as reg:
        for depth in (1, 2):
            mv = reg.register_model(
                DecisionTreeClassifier(max_depth=depth).fit(X, y), "wine", X.head()
            )
            reg.transition(mv, "validated", reason="gates passed")
        reg.transition("wine@1", "approved", reason="first release")
        reg.deploy("wine@1", "wine", reason="first release")
        secret = {
            r: tokens.create(reg.store, f"{r}-1", r, "admin").secret
            for r in ("viewer", "reviewer", "deployer")
        }
    elsewhere = tmp_path / "elsewhere"  # the CLI needs no local project in remote mode
    elsewhere.mkdir()

    def my(role: str | None, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "MODELYARD_SERVER": server, "COLUMNS": "200"}
        env.pop("MODELYARD_TOKEN", None)
        if role:
            env["MODELYARD_TOKEN"] = secret[role]
        return subprocess.run(
            [EXE, *args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
        )

    with served(project, log=tmp_path / "server.log") as (server, _):
        anonymous = my(None, "approve", "wine@2", "-m", "hi")
        assert anonymous.returncode == 1 and "Bearer" in anonymous.stderr
        viewer = my("viewer", "approve", "wine@2", "-m", "looks fine")
        assert viewer.returncode == 1 and "needs the 'approve' permission" in viewer.stderr
        ok = my("reviewer", "approve", "wine@2", "-m", "fairness report reviewed", "--json")
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["state"] == "approved"
        cannot = my("reviewer", "deploy", "wine@2", "--to", "wine")
        assert cannot.returncode == 1 and "needs the 'deploy' permission" in cannot.stderr
        assert my("deployer", "deploy", "wine@2", "--to", "wine").returncode == 0
        back = my("deployer", "rollback", "wine", "-m", "p99 doubled", "--json")
        assert json.loads(back.stdout) == {"endpoint": "wine", "from": "wine@2", "to": "wine@1"}
        audit = json.loads(my("viewer", "audit", "show", "--model", "wine@2", "--json").stdout)
        assert ("reviewer-1", "model.approve") in {(e["actor"], e["action"]) for e in audit}
        assert my("viewer", "audit", "verify").returncode == 0
        cat = json.loads(my("viewer", "catalog", "--json").stdout)
        assert cat[0]["model"] == "wine" and cat[0]["status"] == "active"
        mint = my("viewer", "token", "create", "--name", "x", "--role", "admin")
        assert mint.returncode == 1 and "needs the 'admin' permission" in mint.stderr
        local_only = my("viewer", "data", "list")
        assert local_only.returncode == 2 and "local project only" in local_only.stderr
