"""Boosted models keep the scikit-learn API through the registry: a LightGBM classifier comes
back as a classifier (classes, probabilities), so it gates and serves; a preprocessing Pipeline
ending in XGBoost or LightGBM loads without trust through one composite artifact."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelyard.core.errors import UnsafeArtifact
from modelyard.registry.registry import Registry

CATS = ["colour", "sex", "employed", "citizen"]
NUMS = ["year", "age", "checks"]


@pytest.fixture(scope="module")
def arrests() -> tuple[pd.DataFrame, pd.Series]:
    from sklego.datasets import load_arrests

    df = pd.DataFrame(load_arrests(as_frame=True)).sample(1500, random_state=0)
    return df[CATS + NUMS].reset_index(drop=True), df["released"].reset_index(drop=True)


def _pipeline(final: Any) -> Pipeline:
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), CATS), ("num", StandardScaler(), NUMS)]
    )
    return Pipeline([("pre", pre), ("model", final)])


def _boosters() -> dict[str, Any]:
    import lightgbm
    import xgboost

    return {
        "lightgbm": lightgbm.LGBMClassifier(n_estimators=15, verbose=-1),
        "xgboost": xgboost.XGBClassifier(n_estimators=15, max_depth=3),
    }


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_a_pipeline_ending_in_a_boosted_model_round_trips_without_trust(
    local_registry: Registry, arrests: tuple[pd.DataFrame, pd.Series], kind: str
) -> None:
    X, y = arrests
    target = (y == "Yes").astype(int)  # XGBoost wants 0..n-1 labels
    model = _pipeline(_boosters()[kind]).fit(X, target)
    mv = local_registry.register_model(model, name=f"p-{kind}", sample_input=X.head())
    assert mv.flavor == "sklearn-boosted" and not mv.trusted
    loaded = local_registry.load_model(mv)
    assert type(loaded) is Pipeline and type(loaded[-1]) is type(model[-1])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-6)


def test_a_lightgbm_classifier_on_string_labels_keeps_them(
    local_registry: Registry, arrests: tuple[pd.DataFrame, pd.Series]
) -> None:
    import lightgbm

    X, y = arrests
    Xn = X[NUMS]
    model = lightgbm.LGBMClassifier(n_estimators=15, verbose=-1).fit(Xn, y)
    mv = local_registry.register_model(model, name="lgb-str", sample_input=Xn.head())
    loaded = local_registry.load_model(mv)
    assert loaded.classes_.tolist() == ["No", "Yes"]
    assert (loaded.predict(Xn) == model.predict(Xn)).all()
    assert mv.signature["classes"] == ["No", "Yes"] and mv.signature["task"] == "classification"


def test_a_composite_artifact_is_held_to_the_same_allow_list(
    arrests: tuple[pd.DataFrame, pd.Series],
) -> None:
    """The skops part of a composite artifact is audited like any scikit-learn artifact: a
    hostile step (a function call in place of the scaler) is refused at load."""
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    from modelyard.registry.flavors import flavor

    X, y = arrests
    model = _pipeline(_boosters()["lightgbm"]).fit(X, (y == "Yes").astype(int))
    data, info = flavor("sklearn-boosted").dump(model)
    hostile = sio.dumps(Pipeline([("f", FunctionTransformer(eval))]))
    buf = BytesIO()
    with zipfile.ZipFile(BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, hostile if name == "prefix.skops" else src.read(name))
    with pytest.raises(UnsafeArtifact, match="eval"):
        flavor("sklearn-boosted").load(buf.getvalue(), info, False)
    extra = BytesIO()
    with zipfile.ZipFile(BytesIO(data)) as src, zipfile.ZipFile(extra, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("payload.pkl", b"...")
    with pytest.raises(UnsafeArtifact, match="members"):
        flavor("sklearn-boosted").load(extra.getvalue(), info, False)
    manifest = json.loads(zipfile.ZipFile(BytesIO(data)).read("manifest.json"))
    assert manifest["final_flavor"] == "lightgbm"


def test_a_lightgbm_classifier_passes_a_classification_gate(
    arrests: tuple[pd.DataFrame, pd.Series],
) -> None:
    """Before, the loaded model was a bare Booster (no classes_): every classification gate
    refused it, so LightGBM classifiers could never be deployed."""
    import lightgbm

    from modelyard.core.gate_policy import Bound, GatePolicy, MetricsPolicy
    from modelyard.gates.checks.metrics import MetricsCheck
    from modelyard.gates.context import GateContext, Side
    from modelyard.registry.flavors import flavor

    X, y = arrests
    model = lightgbm.LGBMClassifier(n_estimators=15, verbose=-1).fit(X[NUMS], y)
    data, info = flavor("lightgbm").dump(model)
    loaded = flavor("lightgbm").load(data, info, False)
    ctx = GateContext(
        frame=X[NUMS].assign(released=y),
        target="released",
        candidate=Side("candidate", loaded, "lgb@1"),
        policy=GatePolicy(positive_label="Yes"),
    )
    policy = MetricsPolicy(thresholds={"roc_auc": Bound(min=0.5)})
    result = MetricsCheck(policy).run(ctx)
    from sklearn.metrics import roc_auc_score

    expected = roc_auc_score(y == "Yes", np.asarray(model.predict_proba(X[NUMS]))[:, 1])
    assert result.details["candidate"]["roc_auc"] == pytest.approx(expected, abs=1e-12)
