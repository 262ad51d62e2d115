"""Small real projects for the tests that start a server."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def breast_cancer_endpoint(root: Path) -> pd.DataFrame:
    """A new project at ``root`` whose endpoint ``bc`` serves an approved logistic model of
    scikit-learn's breast cancer data; returns the feature rows."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelyard.registry.registry import Registry

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with Registry.init(root, env={"MODELYARD_USER": "tester"}, identity="os") as reg:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
        mv = reg.register_model(model, "bc", X.head())
        reg.transition(mv, "validated", reason="gates")
        reg.transition(mv, "approved", reason="review", actor="reviewer")
        reg.deploy(mv.ref, "bc", reason="test")
    features: pd.DataFrame = X
    return features
