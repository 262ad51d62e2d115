"""TreeSHAP explanations on ``:explain``: contributions plus the base value add up to the
model's own output (probability for forests, the margin for boosted trees), one-hot encoded
inputs are summed back to their feature, and without shap the answer is 422 naming the extra."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

CATEGORICAL = ["colour", "sex", "employed", "citizen"]
FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]


class Served:
    def __init__(
        self, url: str, X: pd.DataFrame, arrests: pd.DataFrame, models: dict[str, Any]
    ) -> None:
        self.url = url
        self.X = X
        self.arrests = arrests
        self.models = models


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    import lightgbm
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from modelyard.demo.data import arrests
    from modelyard.registry.registry import Registry
    from modelyard.serving.stack import ServeSpec, build_app
    from tests.serving.conftest import RunningServer

    root = tmp_path_factory.mktemp("explain") / "proj"
    env = {"MODELYARD_USER": "tester"}
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    df = arrests()
    onehot = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL)],
        remainder="passthrough",
    )
    models: dict[str, Any] = {
        "forest": RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0).fit(X, y),
        "boosted": GradientBoostingClassifier(n_estimators=30, random_state=0).fit(X, y),
        "lgbm": lightgbm.LGBMClassifier(n_estimators=30, verbose=-1).fit(X, y),
        "noshap": ExtraTreesClassifier(n_estimators=10, random_state=0).fit(X, y),
        "arrests": Pipeline(
            [
                ("pre", onehot),
                ("trees", RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0)),
            ]
        ).fit(df[FEATURES], df["released"] == "Yes"),
    }
    reg = Registry.init(root, env=env, identity="os")
    for name, model in models.items():
        sample = df[FEATURES].head(20) if name == "arrests" else X.head()
        mv = reg.register_model(model, name, sample)
        reg.transition(mv, "validated", reason="gates")
        reg.transition(mv, "approved", reason="review", actor="reviewer")
        reg.deploy(mv.ref, name, reason="test")
    reg.close()
    server_reg = Registry.open(root, env)
    app = build_app(server_reg, ServeSpec(project=str(root), refresh_s=0.05), close_registry=True)
    srv = RunningServer(app)
    yield Served(srv.url, X, df, models)
    srv.stop()


def _explain(served: Served, endpoint: str, instances: list[Any]) -> dict[str, Any]:
    r = httpx.post(
        f"{served.url}/v1/models/{endpoint}:explain", json={"instances": instances}, timeout=60
    )
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def _sums(doc: dict[str, Any]) -> np.ndarray:
    """base + Σ contributions, per row and output."""
    out = []
    for row in doc["explanations"]:
        contribs = row["contributions"]
        bases = row["base"]
        if isinstance(contribs, dict):
            contribs, bases = [contribs], [bases]
        out.append([b + sum(c.values()) for b, c in zip(bases, contribs, strict=True)])
    return np.array(out)


def test_a_forest_explains_its_probabilities_exactly(served: Served) -> None:
    X = served.X.iloc[:5]
    doc = _explain(served, "forest", X.to_numpy().tolist())
    assert doc["method"].startswith("TreeSHAP (shap ")
    assert doc["space"] == "probability" and doc["outputs"] == [0, 1]
    assert doc["model_version"] == "forest@1"
    first = doc["explanations"][0]["contributions"]
    assert len(first) == 2 and set(first[1]) == set(X.columns)
    proba = served.models["forest"].predict_proba(X)
    np.testing.assert_allclose(_sums(doc), proba, atol=1e-6)


def test_boosted_trees_explain_their_margin(served: Served) -> None:
    X = served.X.iloc[:5]
    doc = _explain(served, "boosted", X.to_numpy().tolist())
    assert doc["space"] == "log_odds"
    margin = served.models["boosted"].decision_function(X)
    np.testing.assert_allclose(_sums(doc)[:, 0], margin, atol=1e-6)


def test_lightgbm_explains_its_raw_score(served: Served) -> None:
    X = served.X.iloc[:5]
    doc = _explain(served, "lgbm", X.to_numpy().tolist())
    raw = served.models["lgbm"].predict(X, raw_score=True)
    np.testing.assert_allclose(_sums(doc)[:, 0], raw, atol=1e-6)


def test_one_hot_columns_are_summed_back_to_their_input_feature(served: Served) -> None:
    rows = served.arrests[FEATURES].iloc[:4]
    doc = _explain(served, "arrests", rows.to_dict(orient="records"))
    assert "one-hot" in doc["aggregated"]
    for row in doc["explanations"]:
        for contribs in row["contributions"]:
            assert set(contribs) == set(FEATURES)
    proba = served.models["arrests"].predict_proba(rows)
    np.testing.assert_allclose(_sums(doc), proba, atol=1e-6)


def test_without_shap_the_answer_is_422_naming_the_extra(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "shap", None)  # as if the explain extra were missing
    r = httpx.post(
        f"{served.url}/v1/models/noshap:explain",
        json={"instances": served.X.iloc[:1].to_numpy().tolist()},
        timeout=60,
    )
    assert r.status_code == 422
    body = r.json()
    assert "shap" in body["error"] and "modelyard[explain]" in body["hint"]
    assert body["id"]
