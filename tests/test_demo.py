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
def test_demo_registers_data_trains_two_versions_with_lineage(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).with_name("modelyard"))
    out = subprocess.run(
        [exe, "demo", "--path", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert out.returncode == 0, out.stderr
    assert "arrests@2" in out.stdout and "Catalog" in out.stdout
    with Registry.open(tmp_path / "demo", env={}) as reg:
        ds = reg.dataset("arrests@1")
        assert ds.n_rows == 5226
        versions = reg.model_versions("arrests")
        assert [v.version for v in versions] == [1, 2]
        for v in versions:
            graph = model_lineage(reg, v.ref)
            assert graph["datasets"][0]["digest"] == ds.digest
            assert graph["run"]["metrics"]["roc_auc"] > 0.6
            assert graph["model_version"]["owner"] == "risk-analytics@example.org"


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
