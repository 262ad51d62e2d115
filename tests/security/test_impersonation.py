"""Four-eyes compares principals, not names (issue 14, finding 6).

The author of a version is the principal that registered it: locally, the OS account (read from
the process, not from an environment variable). A token belongs to a principal; whatever the
token is called, and however many tokens that principal holds, none of them may approve that
principal's version. ``MODELYARD_USER`` may not claim another identity unless the project says
``identity: os`` (one-person projects), and then the audit log records it as an override.
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

from modelyard.core.errors import PermissionDenied
from modelyard.registry.registry import Registry
from modelyard.store import schema as t
from modelyard.web.api import PREFIX, management_app
from tests.support.cli import run_main

# the OS account running the tests: the principal that authors versions registered here
ME = f"os:{os.getuid()}:{pwd.getpwuid(os.getuid()).pw_name}"
MY_NAME = pwd.getpwuid(os.getuid()).pw_name


def _project(root: Path, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "modelyard.yaml").write_text(
        "governance:\n  approvals: {required: 1, four_eyes: true}\n" + extra
    )
    return root


def _validated_wine(reg: Registry) -> str:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True, as_frame=True)
    with reg.start_run(model="wine") as run:
        mv = run.log_model(DecisionTreeClassifier(max_depth=2).fit(X, y), sample_input=X.head())
    reg.transition(mv, "validated", reason="gates passed")
    return mv.ref


def _approvals(reg: Registry) -> list[dict[str, Any]]:
    with reg.store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t.approvals)).mappings()]


@pytest.fixture
def team(tmp_path: Path, store_url: str) -> Iterator[tuple[TestClient, Registry, str, Any]]:
    """A governed project whose version wine@1 the OS account (alice, here) registered, and an
    admin token that hands out tokens through the API."""
    from modelyard.security import tokens

    root = _project(tmp_path / "team")
    reg = Registry.open(root, env={"MODELYARD_STORE_URL": store_url})
    ref = _validated_wine(reg)
    admin = tokens.create(reg.store, "root-admin", "admin", "setup").secret
    with TestClient(management_app(reg)) as client:

        def token(name: str, principal: str | None = None) -> dict[str, str]:
            body = {"name": name, "role": "reviewer"}
            if principal is not None:
                body["principal"] = principal
            r = client.post(
                PREFIX + "/tokens", json=body, headers={"Authorization": f"Bearer {admin}"}
            )
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['token']}"}

        yield client, reg, ref, token
    reg.close()


def test_a_token_of_the_author_under_another_name_cannot_approve(team: Any) -> None:
    client, reg, ref, token = team
    alice2 = token("alice2", principal=ME)
    r = client.post(f"{PREFIX}/models/{ref}/approve", headers=alice2, json={"comment": "lgtm"})
    assert r.status_code == 403, r.text
    assert "four eyes" in r.json()["error"] and ME in r.json()["error"]
    assert _approvals(reg) == [] and reg.model_version(ref).state == "validated"


def test_no_second_token_of_the_author_may_approve_either(team: Any) -> None:
    client, reg, ref, token = team
    for name in ("alice-laptop", "alice-ci"):
        head = token(name, principal=ME)
        r = client.post(f"{PREFIX}/models/{ref}/approve", headers=head, json={"comment": "ok"})
        assert r.status_code == 403, (name, r.text)
    assert _approvals(reg) == []


def test_a_token_named_like_the_author_but_held_by_someone_else_may_approve(team: Any) -> None:
    client, reg, ref, token = team
    bob = token(MY_NAME, principal="bob")  # the author's name, another principal
    assert client.get(PREFIX + "/whoami", headers=bob).json()["principal"] == "user:bob"
    r = client.post(f"{PREFIX}/models/{ref}/approve", headers=bob, json={"comment": "reviewed"})
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text
    [row] = _approvals(reg)
    assert (row["actor"], row["principal"]) == (MY_NAME, "user:bob")
    entry = reg.store.chain.entries(action="model.approve")[-1]
    assert entry.data["principal"] == "user:bob"
    assert reg.model_version(ref).principal == ME


def test_the_authors_os_account_and_their_named_principal_count_as_one(team: Any) -> None:
    client, reg, ref, token = team
    mine = token("laptop", principal=MY_NAME)  # user:<the OS account's name>
    r = client.post(f"{PREFIX}/models/{ref}/approve", headers=mine, json={"comment": "ok"})
    assert r.status_code == 403 and "four eyes" in r.json()["error"], r.text
    assert _approvals(reg) == []


def test_one_principal_with_two_tokens_counts_as_one_approval(
    tmp_path: Path, store_url: str
) -> None:
    from modelyard.security import tokens

    root = tmp_path / "two"
    root.mkdir()
    (root / "modelyard.yaml").write_text("governance:\n  approvals: {required: 2}\n")
    with Registry.open(root, env={"MODELYARD_STORE_URL": store_url}) as reg:
        ref = _validated_wine(reg)
        admin = {"Authorization": f"Bearer {tokens.create(reg.store, 'a', 'admin', 'x').secret}"}
        with TestClient(management_app(reg)) as client:
            secrets = [
                client.post(
                    PREFIX + "/tokens",
                    headers=admin,
                    json={"name": n, "role": "reviewer", "principal": "bob"},
                ).json()["token"]
                for n in ("bob", "bob-ci")
            ]
            url, body = f"{PREFIX}/models/{ref}/approve", {"comment": "fine"}
            first = client.post(url, json=body, headers={"Authorization": f"Bearer {secrets[0]}"})
            assert first.status_code == 200 and first.json()["approvals"] == 1
            again = client.post(url, json=body, headers={"Authorization": f"Bearer {secrets[1]}"})
            assert again.status_code == 409 and "already approved" in again.json()["error"]
        assert reg.model_version(ref).state == "validated" and len(_approvals(reg)) == 1


def test_modelyard_user_cannot_claim_another_identity_locally(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path / "solo-refused")
    with Registry.open(root, env={}) as reg:
        ref = _validated_wine(reg)
    ran = run_main(
        capsys,
        monkeypatch,
        "approve",
        ref,
        "-m",
        "me",
        "-p",
        str(root),
        env={"MODELYARD_USER": "anyone"},
    )
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "MODELYARD_USER='anyone' is refused" in ran.stderr and "identity: os" in ran.stderr
    with Registry.open(root, env={}) as reg:
        assert _approvals(reg) == [] and reg.model_version(ref).state == "validated"


def test_init_refuses_an_override_before_writing_and_accepts_it_for_a_one_person_project(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "new"
    env = {"MODELYARD_USER": "anyone"}
    refused = run_main(capsys, monkeypatch, "init", str(root), env=env)
    assert refused.returncode == 2 and "identity: os" in refused.stderr
    assert not (root / "modelyard.yaml").exists()
    solo = run_main(capsys, monkeypatch, "init", str(root), "--identity", "os", env=env)
    assert solo.returncode == 0, solo.stderr
    assert "identity: os" in (root / "modelyard.yaml").read_text()


def test_the_os_account_cannot_approve_its_own_version_on_the_command_line(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path / "solo-own")
    with Registry.open(root, env={}) as reg:
        ref = _validated_wine(reg)
    monkeypatch.delenv("MODELYARD_USER", raising=False)
    ran = run_main(capsys, monkeypatch, "approve", ref, "-m", "me", "-p", str(root), env={})
    assert ran.returncode == 1 and "four eyes" in ran.stderr


def test_with_identity_os_an_override_is_allowed_and_recorded_as_one(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path / "solo-os", "identity: os\n")
    with Registry.open(root, env={"MODELYARD_USER": "author"}) as reg:
        ref = _validated_wine(reg)
        assert reg.model_version(ref).principal == f"{ME}/as:author"
    ran = run_main(
        capsys,
        monkeypatch,
        "approve",
        ref,
        "-m",
        "ok",
        "-p",
        str(root),
        env={"MODELYARD_USER": "reviewer"},
    )
    assert ran.returncode == 0, ran.stderr
    with Registry.open(root, env={}) as reg:
        [row] = _approvals(reg)
        assert (row["actor"], row["principal"]) == ("reviewer", f"{ME}/as:reviewer")
        entry = reg.store.chain.entries(action="model.approve")[-1]
        assert entry.data["identity"] == "override"
        assert entry.data["principal"] == f"{ME}/as:reviewer"
        assert reg.model_version(ref).state == "approved"


def test_rows_from_before_principals_get_one_and_still_bind_four_eyes(
    store_url: str, tmp_path: Path
) -> None:
    """Migration 0005 on a store written by the previous schema: tokens belong to the principal
    of their name, older authors and approvals become ``legacy:<name>``, and a legacy author
    still may not approve through a token named after them."""
    import datetime as dt

    from alembic import command

    from modelyard.registry.approvals import approve
    from modelyard.security import tokens
    from modelyard.store.engine import _alembic_config, create_store_engine, migrate

    engine = create_store_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0004")
    at = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, model_name, status, params, seed, environment, "
                "created_by, started_at) VALUES ('r1', 'wine', 'finished', '{}', NULL, '{}', "
                "'alice', :at)"
            ),
            {"at": at},
        )
        conn.execute(
            sa.text(
                "INSERT INTO model_versions (model_name, version, run_id, artifact_digest, "
                "flavor, trusted, signature, size_bytes, state, card, created_at, created_by) "
                "VALUES ('wine', 1, 'r1', :d, 'sklearn', false, '{}', 1, 'validated', '{}', "
                ":at, 'alice')"
            ),
            {"d": "0" * 64, "at": at},
        )
        conn.execute(
            sa.text(
                "INSERT INTO approvals (model_version_id, actor, decision, comment, at) "
                "VALUES (1, 'bob', 'comment', 'looked at it', :at)"
            ),
            {"at": at},
        )
        conn.execute(
            sa.text(
                "INSERT INTO tokens (id, name, role, secret_hash, created_by, created_at) "
                "VALUES ('t1', 'alice', 'reviewer', :h, 'admin', :at)"
            ),
            {"h": "f" * 64, "at": at},
        )
    assert migrate(engine)
    with engine.connect() as conn:
        got = {
            table: conn.execute(sa.text(f"SELECT principal FROM {table}")).scalar_one()
            for table in ("runs", "model_versions", "approvals", "tokens")
        }
    engine.dispose()
    assert got == {
        "runs": "legacy:alice",
        "model_versions": "legacy:alice",
        "approvals": "legacy:bob",
        "tokens": "user:alice",
    }
    root = _project(tmp_path / "legacy")
    with Registry.open(root, env={"MODELYARD_STORE_URL": store_url}) as reg:
        secret = tokens.create(reg.store, "alice-2", "reviewer", "admin", principal="alice")
        alice = tokens.authenticate(reg.store, secret.secret)
        with pytest.raises(PermissionDenied, match="four eyes"):
            approve(reg, "wine@1", alice, "legacy, but still mine")
