"""Tokens, roles and approvals: least privilege, four eyes, and no way around the policy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelyard.core.errors import IllegalTransition, PermissionDenied
from modelyard.core.governance import ROLE_PERMISSIONS, AccessRole, Permission
from modelyard.core.identity import local_actor
from modelyard.registry.approvals import approve, reject
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.security import tokens
from modelyard.security.access import Identity, local_identity
from modelyard.store import schema as t

# The table as the docs state it; the code must grant exactly this and nothing more.
EXPECTED = {
    "viewer": {"read"},
    "data-scientist": {"read", "predict", "feedback", "register", "gate"},
    "reviewer": {"read", "feedback", "approve"},
    "deployer": {"read", "predict", "deploy", "retire"},
    "admin": {p.value for p in Permission},
}


@pytest.mark.parametrize("role", list(AccessRole))
@pytest.mark.parametrize("permission", list(Permission))
def test_each_role_is_allowed_exactly_what_the_table_says(
    role: AccessRole, permission: Permission
) -> None:
    who = Identity("someone", role, "tok")
    if permission.value in EXPECTED[role.value]:
        who.require(permission)
    else:
        with pytest.raises(PermissionDenied, match=f"needs the '{permission.value}' permission"):
            who.require(permission)
    assert {p.value for p in ROLE_PERMISSIONS[role]} == EXPECTED[role.value]


def test_tokens_are_shown_once_stored_hashed_and_can_expire_or_be_revoked(
    registry: Registry,
) -> None:
    tok = tokens.create(registry.store, "ci", "data-scientist", actor="admin")
    who = tokens.authenticate(registry.store, tok.secret)
    assert (who.name, who.role) == ("ci", AccessRole.DATA_SCIENTIST)
    with registry.store.engine.connect() as conn:
        stored = conn.execute(sa.select(t.tokens.c.secret_hash)).scalar_one()
    assert tok.secret.split("_", 2)[2] not in stored
    with pytest.raises(PermissionDenied, match="unknown token"):
        tokens.authenticate(registry.store, tok.secret[:-2] + "xx")
    with pytest.raises(PermissionDenied, match="malformed"):
        tokens.authenticate(registry.store, "Bearer nonsense")
    tokens.revoke(registry.store, "ci", actor="admin")
    with pytest.raises(PermissionDenied, match="revoked"):
        tokens.authenticate(registry.store, tok.secret)
    short = tokens.create(registry.store, "temp", "viewer", actor="admin", expires_days=1)
    with registry.store.engine.begin() as conn:
        conn.execute(
            sa.update(t.tokens)
            .where(t.tokens.c.name == "temp")
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    with pytest.raises(PermissionDenied, match="expired"):
        tokens.authenticate(registry.store, short.secret)
    actions = [e.action for e in registry.store.chain.entries()]
    assert actions.count("token.create") == 2 and "token.revoke" in actions


def as_(reg: Registry, name: str) -> Identity:
    """The local actor that ``MODELYARD_USER=name`` gives in an ``identity: os`` project."""
    s = reg.settings
    return local_identity(local_actor(s.os_account, s.os_name, name, "os"))


def _validated(reg: Registry) -> ModelVersion:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True, as_frame=True)
    with reg.start_run(model="wine") as run:
        mv = run.log_model(DecisionTreeClassifier(max_depth=2).fit(X, y), sample_input=X.head())
    return reg.transition(mv, "validated", reason="gates passed")


def _with_policy(
    project_dir: Path, store_url: str, required: int, four_eyes: bool, user: str
) -> Registry:
    (project_dir / "modelyard.yaml").write_text(
        "identity: os\n"  # one person plays author and reviewers (MODELYARD_USER)
        f"governance:\n  approvals: {{required: {required}, four_eyes: {str(four_eyes).lower()}}}\n"
    )
    return Registry.open(
        project_dir, env={"MODELYARD_STORE_URL": store_url, "MODELYARD_USER": user}
    )


def test_four_eyes_the_author_cannot_approve_and_two_reviewers_are_needed(
    project_dir: Path, store_url: str
) -> None:
    with _with_policy(project_dir, store_url, 2, True, "alice") as reg:
        mv = _validated(reg)
        with pytest.raises(PermissionDenied, match="four eyes"):
            approve(reg, mv.ref, as_(reg, "alice"), "my own work looks great")
        with pytest.raises(PermissionDenied, match="0 of 2 required"):
            reg.transition(mv, "approved", reason="sneaking past the policy")
        first = approve(reg, mv.ref, as_(reg, "bob"), "fairness report reviewed")
        assert not first.approved and first.version.state == "validated"
        with pytest.raises(IllegalTransition, match="only approved versions"):
            reg.deploy(mv, "wine-prod")
        second = approve(reg, mv.ref, as_(reg, "carol"), "calibration fine")
        assert second.approved and second.version.state == "approved"
        assert reg.deploy(mv, "wine-prod").state == "deployed"
        decisions = [e for e in reg.store.chain.entries(action="model.approve")]
        assert [d.actor for d in decisions] == ["bob", "carol"]


def test_only_validated_versions_can_be_approved_and_rejection_records_why(
    project_dir: Path, store_url: str
) -> None:
    with _with_policy(project_dir, store_url, 1, False, "alice") as reg:
        mv = _validated(reg)
        rejected = reject(reg, mv.ref, as_(reg, "bob"), "unfair to younger people")
        assert rejected.state == "rejected"
        with pytest.raises(IllegalTransition, match="only validated versions"):
            approve(reg, mv.ref, as_(reg, "bob"), "changed my mind")
        history = reg.store.versions.transitions_of(mv.id)
        assert history[-1].reason == "rejected by bob: unfair to younger people"


def test_the_permission_docs_are_generated_from_the_code() -> None:
    from pathlib import Path

    from modelyard.security.access import permission_markdown
    from modelyard.web.api import OPS, PREFIX

    routes = [(op.method, PREFIX + op.path, op.permission.value) for op in OPS]
    docs = Path(__file__).parents[1] / "docs" / "permissions.md"
    assert docs.read_text() == permission_markdown(routes), (
        "docs/permissions.md is stale: run `modelyard token roles --markdown > docs/permissions.md`"
    )
