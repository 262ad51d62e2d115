"""Deploy, rollback to last-known-good, deprecate, retire and the catalog with ghosts."""

from __future__ import annotations

import pytest

from modelyard.core.errors import IllegalTransition, InvalidInput, NotFound
from modelyard.orchestration.operations import champion, deploy, deprecate, retire, rollback
from modelyard.registry.catalog import catalog
from modelyard.registry.registry import ModelVersion, Registry


def _approved(reg: Registry, n: int) -> list[ModelVersion]:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True, as_frame=True)
    out = []
    for depth in range(1, n + 1):
        with reg.start_run(model="wine", params={"depth": depth}) as run:
            mv = run.log_model(
                DecisionTreeClassifier(max_depth=depth).fit(X, y), sample_input=X.head()
            )
        reg.transition(mv, "validated", reason="gates passed")
        out.append(reg.transition(mv, "approved", reason="reviewed"))
    return out


def test_rollback_returns_to_the_last_known_good_champion(registry: Registry) -> None:
    v1, v2, v3 = _approved(registry, 3)
    deploy(registry, v1.ref, "wine")
    deploy(registry, v2.ref, "wine")
    deploy(registry, v3.ref, "wine", role="canary", weight=0.2)
    result = rollback(registry, "wine", reason="error rate doubled")
    assert (result.from_version, result.to_version) == ("wine@2", "wine@1")
    plan = registry.store.routes.all("wine")
    assert [(r.version, r.role) for r in plan] == [(1, "production")], "canaries removed"
    assert registry.model_version("wine@2").state == "approved"
    again = rollback(registry, "wine", reason="back to 2")
    assert again.to_version == "wine@2"


def test_rollback_without_history_says_what_to_do(registry: Registry) -> None:
    (v1,) = _approved(registry, 1)
    deploy(registry, v1.ref, "wine")
    with pytest.raises(NotFound, match="no earlier production version"):
        rollback(registry, "wine", reason="nothing to go back to")


def test_canary_weights_are_checked(registry: Registry) -> None:
    v1, v2 = _approved(registry, 2)
    deploy(registry, v1.ref, "wine")
    with pytest.raises(InvalidInput, match="canary weight"):
        deploy(registry, v2.ref, "wine", role="canary", weight=1.0)
    with pytest.raises(InvalidInput, match="unknown role"):
        deploy(registry, v2.ref, "wine", role="champion")


def test_retired_versions_lose_their_routes_and_can_never_serve_again(registry: Registry) -> None:
    v1, v2 = _approved(registry, 2)
    deploy(registry, v1.ref, "wine")
    deploy(registry, v2.ref, "wine", role="fallback")
    retired = retire(registry, v2.ref, reason="superseded")
    assert retired.state == "retired"
    assert [r.version for r in registry.store.routes.all("wine")] == [1]
    with pytest.raises(IllegalTransition, match="retired"):
        deploy(registry, v2.ref, "wine", role="fallback")
    assert champion(registry, "wine").ref == "wine@1"  # type: ignore[union-attr]


def test_catalog_lists_owner_traffic_and_flags_ghosts(registry: Registry) -> None:
    v1, v2 = _approved(registry, 2)
    deploy(registry, v1.ref, "wine")
    deploy(registry, v2.ref, "wine", role="canary", weight=0.1)
    deprecate(registry, v1.ref, reason="replaced soon")
    (entry,) = catalog(registry)
    assert entry.model == "wine" and entry.status == "active"
    assert "wine@1 serves while deprecated" in entry.ghosts
    assert any("without an owner" in g for g in entry.ghosts), "no owner in the project file"
    traffic = {v["ref"]: v["routes"] for v in entry.versions}
    assert traffic["wine@2"] == [{"endpoint": "wine", "role": "canary", "weight": 0.1}]


def test_rolling_back_the_first_releases_canary_keeps_the_champion(registry: Registry) -> None:
    """A champion with no predecessor is the last-known-good of its canary: the rollback takes
    the canary off (a dead end before: 'no earlier production version')."""
    v1, v2 = _approved(registry, 2)
    deploy(registry, v1.ref, "wine")
    deploy(registry, v2.ref, "wine", role="canary", weight=0.1)
    result = rollback(registry, "wine", reason="canary looks worse")
    assert (result.from_version, result.to_version) == ("wine@2", "wine@1")
    plan = registry.store.routes.all("wine")
    assert [(r.version, r.role) for r in plan] == [(1, "production")]
    with pytest.raises(NotFound, match="no earlier production version"):
        rollback(registry, "wine", reason="nothing left to take off")
