"""The demo's training entrypoint (``models.arrests.train`` in its project file).

The same function trains in the demo and retrains in the reproducibility gate, from the recorded
lineage: the run's datasets, params and seed.
"""

from __future__ import annotations

from typing import Any

FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
CATEGORICAL = ["colour", "sex", "employed", "citizen"]
NUMERIC = ["year", "age", "checks"]


def fit(inputs: Any) -> Any:
    """``inputs``: datasets by role (``train``), params (``kind``, ``biased``) and seed."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = inputs.datasets["train"]
    params = inputs.params
    y = (df["released"] == "Yes").astype(int)
    if params.get("biased"):
        # a deliberately unfair candidate: it learns to deny release to every Black arrestee
        y = y.where(df["colour"] != "Black", 0)
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
            ("num", StandardScaler(), NUMERIC),
        ]
    )
    seed = inputs.seed or 0
    if params.get("kind") == "boosting":
        est: Any = HistGradientBoostingClassifier(
            max_depth=3, max_iter=int(params.get("max_iter", 60)), random_state=seed
        )
    else:
        est = LogisticRegression(max_iter=1000, C=float(params.get("C", 1.0)))
    return Pipeline([("pre", pre), ("model", est)]).fit(df[FEATURES], y)
