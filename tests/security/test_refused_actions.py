"""A refused action leaves no trace but the refusal (issue 14, finding 10).

A decision (approve, reject), its approval row and its audit entry commit only together with the
transition they cause, in one transaction: when the transition, or any check before it, is
refused, the approvals table, the audit log and its head are exactly as they were.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from modelyard.registry.registry import Registry
from modelyard.security import tokens
from modelyard.store import schema as t
from modelyard.web.api import PREFIX, management_app
from tests.support.cli import run_main

ME = f"os:{os.getuid()}:{pwd.getpwuid(os.getuid()).pw_name}"  # the OS account: the author


def _snapshot(reg: Registry) -> str:
    """Every row of the tables a decision writes, rendered exactly (values and order)."""
    with reg.store.engine.connect() as conn:
        return repr(
            [
                [tuple(r) for r in conn.execute(sa.select(table).order_by(*table.primary_key))]
                for table in (t.approvals, t.audit_log, t.audit_head, t.transitions)
            ]
        )


def _fit(depth: int) -> Any:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True, as_frame=True)
    return DecisionTreeClassifier(max_depth=depth).fit(X, y), X.head()


@pytest.fixture
def world(tmp_path: Path, store_url: str) -> Iterator[tuple[TestClient, Registry, dict[str, Any]]]:
    """wine@1 deployed, wine@2 only proposed (never gated), wine@3 validated and unapproved;
    a reviewer token held by another principal than the author, and a deployer token."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "modelyard.yaml").write_text("governance:\n  approvals: {required: 1}\n")
    reg = Registry.open(root, env={"MODELYARD_STORE_URL": store_url})
    refs = []
    for depth in (1, 2, 3):
        model, sample = _fit(depth)
        refs.append(reg.register_model(model, "wine", sample).ref)
    admin = {"Authorization": f"Bearer {tokens.create(reg.store, 'adm', 'admin', 'setup').secret}"}
    heads = {}
    with TestClient(management_app(reg)) as client:
        for key, name, role, principal in (
            ("reviewer", "rita", "reviewer", "rita"),
            ("deployer", "dan", "deployer", "dan"),
            ("author", "me-too", "reviewer", ME),  # a token of the author's own principal
        ):
            body = {"name": name, "role": role, "principal": principal}
            made = client.post(PREFIX + "/tokens", headers=admin, json=body)
            heads[key] = {"Authorization": f"Bearer {made.json()['token']}"}
        reg.transition(refs[0], "validated", reason="gates passed")
        ok = client.post(
            f"{PREFIX}/models/{refs[0]}/approve", headers=heads["reviewer"], json={"comment": "ok"}
        )
        assert ok.status_code == 200, ok.text
        dep = client.post(
            PREFIX + "/endpoints/wine/deploy", headers=heads["deployer"], json={"version": refs[0]}
        )
        assert dep.status_code == 200, dep.text
        reg.transition(refs[2], "validated", reason="gates passed")
        yield client, reg, {"refs": refs, "heads": heads}
    reg.close()


REFUSED = [
    # (who, method path, body, expected status)
    ("reviewer", "/models/wine@1/reject", {"comment": "changed my mind"}, 409),  # deployed
    ("reviewer", "/models/wine@2/approve", {"comment": "skip the gates"}, 409),  # ungated
    ("author", "/models/wine@3/approve", {"comment": "my own work"}, 403),  # four eyes
    ("reviewer", "/models/wine@1/approve", {"comment": "approve it twice"}, 409),  # deployed
    ("reviewer", "/models/wine@3/reject", {"comment": " "}, 422),  # no reason given
    ("deployer", "/endpoints/wine/deploy", {"version": "wine@3"}, 409),  # unapproved
    ("deployer", "/endpoints/wine/deploy", {"version": "wine@2"}, 409),  # ungated
    ("deployer", "/models/wine@3/approve", {"comment": "not my role"}, 403),  # no permission
]


@pytest.mark.parametrize(("who", "path", "body", "status"), REFUSED)
def test_a_refused_api_action_leaves_decisions_and_audit_untouched(
    world: Any, who: str, path: str, body: dict[str, str], status: int
) -> None:
    client, reg, ctx = world
    before = _snapshot(reg)
    r = client.post(PREFIX + path, headers=ctx["heads"][who], json=body)
    assert r.status_code == status, r.text
    assert set(r.json()) >= {"error", "code"}
    assert _snapshot(reg) == before
    assert [v.state for v in reg.model_versions("wine")] == ["deployed", "proposed", "validated"]


def test_a_refused_command_line_rejection_leaves_no_trace(
    world: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, reg, _ = world
    before = _snapshot(reg)
    monkeypatch.delenv("MODELYARD_USER", raising=False)
    env = {"MODELYARD_STORE_URL": reg.settings.store_url}
    project = str(reg.settings.project_dir)
    ran = run_main(capsys, monkeypatch, "reject", "wine@1", "-m", "no", "-p", project, env=env)
    assert ran.returncode == 1 and "deployed" in ran.stderr, ran.stderr
    own = run_main(capsys, monkeypatch, "approve", "wine@3", "-m", "me", "-p", project, env=env)
    assert own.returncode == 1 and "four eyes" in own.stderr
    assert _snapshot(reg) == before


def test_an_accepted_rejection_writes_its_decision_and_transition_together(world: Any) -> None:
    client, reg, ctx = world
    before = reg.store.chain.entries()
    r = client.post(
        PREFIX + "/models/wine@3/reject", headers=ctx["heads"]["reviewer"], json={"comment": "bias"}
    )
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    new = reg.store.chain.entries()[len(before) :]
    assert [e.action for e in new] == ["model.reject", "model.transition"]
    assert {e.data["principal"] for e in new} == {"user:rita"}
