"""`modelyard demo` tells the spine's story on real bundled data, through the real entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelyard.registry.lineage import model_lineage
from modelyard.registry.registry import Registry


@pytest.mark.slow
def test_demo_tells_the_story_gates_reject_the_biased_candidate_and_a_reviewer_approves(
    tmp_path: Path,
) -> None:
    exe = str(Path(sys.executable).with_name("modelyard"))
    out = subprocess.run(
        [exe, "demo", "--path", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert out.returncode == 0, out.stderr
    assert "Catalog" in out.stdout and "rejected" in out.stdout
    with Registry.open(tmp_path / "demo", env={}) as reg:
        train, evaluation = reg.dataset("arrests-train@1"), reg.dataset("arrests-eval@1")
        assert train.n_rows + evaluation.n_rows == 5226
        states = {v.ref: v.state for v in reg.model_versions("arrests")}
        assert states == {
            "arrests@1": "approved",
            "arrests@2": "rejected",
            "arrests@3": "approved",
            "arrests@4": "approved",
            "arrests@5": "deployed",
        }, "the fragile canary was rolled back, the retrained one promoted"
        rejected = reg.store.transitions_of(reg.model_version("arrests@2").id)[-1]
        assert "fairness" in rejected["reason"]
        approvals = reg.store.audit_entries(action="model.approve")
        assert {e["actor"] for e in approvals} == {"bob"}, "four eyes: the author never approves"
        from modelyard.store.rollouts import RolloutStore

        fragile, retrained = RolloutStore(reg.store).list("arrests")
        assert fragile["status"] == "rolled_back" and retrained["status"] == "promoted"
        failed = [h for h in fragile["history"] if h["kind"] == "analysis"]
        assert failed[-1]["decision"] == "fail" and failed[-1]["figures"]["canary_error_rate"] > 0
        steps = [h for h in retrained["history"] if h["kind"] == "analysis"]
        assert len(steps) >= 2 and steps[-1]["decision"] == "promote"
        assert all(h["figures"]["canary_error_rate"] in (0, None) for h in steps)
        assert "rolled_back" in out.stdout and "promoted" in out.stdout
        graph = model_lineage(reg, "arrests@5")
        assert graph["datasets"][0]["digest"] == train.digest
        assert graph["reports"][0]["passed"] is True
        assert graph["deployments"] == [
            {"endpoint": "arrests", "role": "production", "weight": 1.0}
        ]
        assert graph["model_version"]["owner"] == "risk-analytics@example.org"
        from modelyard.security.audit import verify

        assert verify(reg.store).ok


def test_every_setting_is_documented_in_the_readme() -> None:
    from modelyard.core.settings import SETTINGS

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for _name, env, _help in SETTINGS:
        assert env in readme, f"{env} is not documented in README.md"


def test_lightgbm_models_round_trip_in_their_native_format(local_registry) -> None:  # type: ignore[no-untyped-def]
    import lightgbm
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(X, y)
    mv = local_registry.register_model(model, name="lgb", sample_input=X.head())
    assert mv.flavor == "lightgbm" and not mv.trusted
    booster = local_registry.load_model(mv)
    np.testing.assert_allclose(booster.predict(X.head()), model.predict_proba(X.head())[:, 1])
