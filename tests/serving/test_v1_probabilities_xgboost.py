"""KServe V1 probabilities from an XGBoost classifier, whose predict_proba is a non-contiguous
view: answered (was a 500, "numpy array is not C contiguous"). Found by the journey matrix
(the penguins and flights canaries)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from starlette.testclient import TestClient


def test_v1_probabilities_of_an_xgboost_classifier(tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer
    from xgboost import XGBClassifier

    from modelyard import Project
    from modelyard.serving.stack import ServeSpec, build_app

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :6]
    model = XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1).fit(X, y)
    assert not model.predict_proba(X.head(3)).flags.c_contiguous
    with Project.init(tmp_path / "p") as reg:
        mv = reg.register_model(model, "bc", X.head())
        app = build_app(reg, ServeSpec(project=str(tmp_path / "p"), ref=mv.ref, refresh_s=0.1))
        rows = X.head(5).to_dict(orient="records")
        with TestClient(app) as client:
            body = {"instances": rows, "parameters": {"probabilities": True}}
            r = client.post("/v1/models/bc:predict", json=body)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["probabilities"], model.predict_proba(X.head(5)), rtol=1e-6)
    assert r.json()["predictions"] == model.predict(X.head(5)).tolist()
