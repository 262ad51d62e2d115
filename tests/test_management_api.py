"""The management API: deny by default, every route by every role exactly as the table says."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from modelyard.core.governance import ROLE_PERMISSIONS, AccessRole
from modelyard.registry.registry import Registry
from modelyard.security import tokens
from modelyard.web.api import OPS, PREFIX, management_app


@pytest.fixture
def api(local_registry: Registry) -> Iterator[tuple[TestClient, dict[str, str], Registry]]:
    secrets = {
        role.value: tokens.create(
            local_registry.store, f"t-{role.value}", role.value, "admin"
        ).secret
        for role in AccessRole
    }
    with TestClient(management_app(local_registry)) as client:
        yield client, secrets, local_registry


def _path(template: str) -> str:
    return (
        template.replace("{ref}", "nosuch@1")
        .replace("{endpoint}", "nosuch")
        .replace("{name}", "nosuch")
        .replace("{prediction_id}", "nosuch")
    )


def test_every_route_times_every_role_gets_exactly_the_tables_answer(
    api: tuple[TestClient, dict[str, str], Registry],
) -> None:
    client, secrets, _ = api
    for op in OPS:
        for role in AccessRole:
            body = {k: "x" for k in op.body}
            r = client.request(
                op.method,
                PREFIX + _path(op.path),
                json=body or None,
                headers={"Authorization": f"Bearer {secrets[role.value]}"},
            )
            allowed = op.permission in ROLE_PERMISSIONS[role]
            if allowed:
                assert r.status_code != 403, (op.path, role, r.text)
                assert r.status_code < 500, (op.path, role, r.text)
            else:
                assert r.status_code == 403, (op.path, role, r.status_code)
                assert f"needs the '{op.permission.value}' permission" in r.json()["error"]


def test_no_token_or_a_bad_token_is_401_with_one_error_shape(
    api: tuple[TestClient, dict[str, str], Registry],
) -> None:
    client, _, _ = api
    for op in OPS:
        r = client.request(op.method, PREFIX + _path(op.path))
        assert r.status_code == 401
        assert set(r.json()) >= {"error", "code"} and "Bearer" in r.json()["error"]
    r = client.get(PREFIX + "/catalog", headers={"Authorization": "Bearer my_abc_def"})
    assert r.status_code == 401 and r.json()["code"] == "permission_denied"


def test_a_revoked_token_stops_working_at_once(
    api: tuple[TestClient, dict[str, str], Registry],
) -> None:
    client, secrets, _ = api
    head = {"Authorization": f"Bearer {secrets['viewer']}"}
    assert client.get(PREFIX + "/whoami", headers=head).json() == {
        "name": "t-viewer",
        "role": "viewer",
        "principal": "user:t-viewer",
    }
    admin = {"Authorization": f"Bearer {secrets['admin']}"}
    assert client.delete(PREFIX + "/tokens/t-viewer", headers=admin).status_code == 200
    assert client.get(PREFIX + "/whoami", headers=head).status_code == 401


def test_a_reviewer_approves_through_the_api_and_the_audit_names_them(
    api: tuple[TestClient, dict[str, str], Registry],
) -> None:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    client, secrets, reg = api
    X, y = load_wine(return_X_y=True, as_frame=True)
    mv = reg.register_model(DecisionTreeClassifier(max_depth=2).fit(X, y), "wine", X.head())
    reg.transition(mv, "validated", reason="gates passed")
    head = {"Authorization": f"Bearer {secrets['reviewer']}"}
    bad = client.post(PREFIX + "/models/wine@1/approve", headers=head, json={"comment": ""})
    assert bad.status_code == 422 and "comment" in bad.json()["error"]
    r = client.post(PREFIX + "/models/wine@1/approve", headers=head, json={"comment": "looks fair"})
    assert r.status_code == 200 and r.json()["state"] == "approved"
    dep = {"Authorization": f"Bearer {secrets['deployer']}"}
    r = client.post(PREFIX + "/endpoints/wine/deploy", headers=dep, json={"version": "wine@1"})
    assert r.status_code == 200 and r.json()["state"] == "deployed"
    actors = {e.action: e.actor for e in reg.store.chain.entries()}
    assert actors["model.approve"] == "t-reviewer" and actors["endpoint.route"] == "t-deployer"


def test_malformed_bodies_and_unknown_routes_are_4xx(
    api: tuple[TestClient, dict[str, str], Registry],
) -> None:
    client, secrets, _ = api
    head = {"Authorization": f"Bearer {secrets['admin']}", "content-type": "application/json"}
    r = client.post(PREFIX + "/tokens", headers=head, content=b"{not json")
    assert r.status_code == 422 and "malformed JSON" in r.json()["error"]
    r = client.post(PREFIX + "/tokens", headers=head, content=b"[1, 2]")
    assert r.status_code == 422
    assert client.get(PREFIX + "/nope", headers=head).status_code == 404
    assert client.get(PREFIX + "/openapi.json").json()["openapi"].startswith("3.")
