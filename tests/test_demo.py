"""`modelyard demo` tells the spine's story on real bundled data, through the real entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.registry.lineage import model_lineage
from modelyard.registry.registry import Registry


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One run of `modelyard demo` through the real entry point, shared by the tests below."""
    root = tmp_path_factory.mktemp("demo") / "demo"
    exe = str(Path(sys.executable).with_name("modelyard"))
    out = subprocess.run(
        [exe, "demo", "--path", str(root)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert out.returncode == 0, out.stderr + out.stdout[-3000:]
    return root, out.stdout


@pytest.mark.slow
def test_demo_tells_the_story_gates_reject_the_biased_candidate_and_a_reviewer_approves(
    demo: tuple[Path, str],
) -> None:
    root, stdout = demo
    assert "Catalog" in stdout and "rejected" in stdout
    with Registry.open(root, env={}) as reg:
        train, evaluation = reg.dataset("arrests-train@1"), reg.dataset("arrests-eval@1")
        assert train.n_rows + evaluation.n_rows == 5226
        states = {v.ref: v.state for v in reg.model_versions("arrests")}
        assert states == {
            "arrests@1": "approved",
            "arrests@2": "rejected",
            "arrests@3": "approved",
            "arrests@4": "approved",
            "arrests@5": "approved",
            "arrests@6": "deployed",
        }, "fragile canary rolled back, retrained promoted, then replaced by the drift retrain"
        rejected = reg.store.versions.transitions_of(reg.model_version("arrests@2").id)[-1]
        assert "fairness" in rejected.reason
        approvals = reg.store.chain.entries(action="model.approve")
        assert {e.actor for e in approvals} == {"bob"}, "four eyes: the author never approves"
        from modelyard.store.rollouts import RolloutStore

        fragile, retrained, _drift_retrain = RolloutStore(reg.store).list("arrests")
        assert fragile.status == "rolled_back" and retrained.status == "promoted"
        failed = [h for h in fragile.history if h["kind"] == "analysis"]
        assert failed[-1]["decision"] == "fail" and failed[-1]["figures"]["canary_error_rate"] > 0
        steps = [h for h in retrained.history if h["kind"] == "analysis"]
        assert len(steps) >= 2 and steps[-1]["decision"] == "promote"
        assert all(h["figures"]["canary_error_rate"] in (0, None) for h in steps)
        assert "rolled_back" in stdout and "promoted" in stdout
        graph = model_lineage(reg, "arrests@5")
        assert graph["datasets"][0]["digest"] == train.digest
        assert graph["reports"][0]["passed"] is True
        assert graph["model_version"]["owner"] == "risk-analytics@example.org"
        from modelyard.security.audit import verify

        assert verify(reg.store).ok


@pytest.mark.slow
def test_demo_drift_raises_warning_then_critical_and_the_playbook_retrains(
    demo: tuple[Path, str],
) -> None:
    from modelyard.store.alerts import AlertStore
    from modelyard.store.playbooks import PlaybookStore
    from modelyard.store.rollouts import RolloutStore
    from modelyard.store.windows import WindowStore

    root, stdout = demo
    with Registry.open(root, env={}) as reg:
        windows = WindowStore(reg.store).windows(endpoint="arrests", with_sketch=False)
        assert windows and sum(w.requests for w in windows) > 500, "the server fed windows"
        alerts = sorted(AlertStore(reg.store).find(endpoint="arrests"), key=lambda a: a.id)
        drift = [a for a in alerts if a.rule.startswith("drift-")]
        assert [(a.rule, a.tier) for a in drift][:2] == [
            ("drift-warning", "warning"),
            ("drift-critical", "critical"),
        ], "warning first, then critical"
        critical = drift[1]
        assert critical.value is not None and critical.value >= 0.5
        actions = PlaybookStore(reg.store).history(endpoint="arrests", limit=20)
        done = {(a.action, a.status) for a in actions}
        assert {("notify", "done"), ("retrain", "done")} <= done
        retrain = next(a for a in actions if a.action == "retrain")
        assert retrain.alert_id == critical.id, "the action names the alert that caused it"
        assert retrain.details["candidate"] == "arrests@6"
        audited = reg.store.chain.entries(action="playbook.retrain")
        assert audited and audited[-1].data.get("alert") == critical.id
        graph = model_lineage(reg, "arrests@6")
        assert [d["ref"] for d in graph["datasets"]] == ["arrests-train@2"], "newest data"
        assert graph["reports"][0]["passed"] is True, "the retrained candidate passed the gates"
        last = RolloutStore(reg.store).list("arrests")[-1]
        assert last.status == "promoted", "then canaried and promoted step by step"
        assert "critical" in stdout and "retrain" in stdout
        assert "arrests@6: passed" in stdout, "the story table shows the retrain's gate verdict"


@pytest.fixture(scope="module")
def demo_site(demo: tuple[Path, str]) -> Iterator[tuple[str, dict[str, str]]]:
    """The dashboard (`modelyard ui --tokens`) over the demo's store, on a free port."""
    from tests.support.browser import dashboard

    root, _ = demo
    with dashboard(root, ("viewer", "reviewer", "admin")) as site:
        yield site


@pytest.mark.slow
def test_after_the_demo_every_dashboard_page_renders_in_a_real_browser(
    demo_site: tuple[str, dict[str, str]],
) -> None:
    from tests.support.browser import chromium, sign_in

    base, secrets = demo_site
    shots = Path(__file__).parents[1] / "docs" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        for role in ("viewer", "admin"):
            page, errors = sign_in(browser, base, secrets[role])
            catalog = page.locator("#catalog").inner_text()
            assert all(f"arrests@{v}" in catalog for v in range(1, 7)), catalog
            shoot = role == "viewer"
            if shoot:
                page.screenshot(path=str(shots / "demo-catalog.png"), full_page=True)
            page.goto(f"{base}/ui/models/arrests@6")
            assert page.locator("svg.lineage-graph .node").count() >= 4
            approve_forms = page.locator("form[action$='/approve']").count()
            page.goto(f"{base}/ui/endpoints/arrests")
            rollback_forms = page.locator("form[action$='/rollback']").count()
            if shoot:
                page.screenshot(path=str(shots / "demo-endpoint.png"), full_page=True)
            page.goto(f"{base}/ui/monitoring/arrests")
            assert page.locator('svg[data-series="feature.age.effect"]').count() == 1
            assert page.locator('svg[data-series="drift.share"]').count() >= 1
            alerts = page.locator("table.alerts").inner_text()
            assert "drift-warning" in alerts and "drift-critical" in alerts
            assert "retrain" in page.locator("table.playbook-actions").inner_text()
            if shoot:
                page.screenshot(path=str(shots / "demo-monitoring.png"), full_page=False)
            page.goto(f"{base}/ui/alerts")
            ack_forms = page.locator("form.ack-form").count()
            page.goto(f"{base}/ui/review")
            page.goto(f"{base}/ui/audit")
            assert "Chain intact" in page.locator("#verification").inner_text()
            if role == "viewer":
                assert approve_forms + rollback_forms + ack_forms == 0, (
                    "a viewer sees no management actions"
                )
            else:
                assert rollback_forms >= 1, "an admin does"
            assert errors == [], errors
            page.context.close()


def test_every_setting_is_documented_in_the_readme() -> None:
    from modelyard.core.settings import SETTINGS

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for _name, env, _help in SETTINGS:
        assert env in readme, f"{env} is not documented in README.md"


def test_lightgbm_models_round_trip_in_their_native_format(local_registry: Registry) -> None:
    import lightgbm
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(X, y)
    mv = local_registry.register_model(model, name="lgb", sample_input=X.head())
    assert mv.flavor == "lightgbm" and not mv.trusted
    loaded = local_registry.load_model(mv)  # the scikit-learn wrapper, not a bare Booster
    assert type(loaded) is lightgbm.LGBMClassifier and loaded.classes_.tolist() == [0, 1]
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-12)
