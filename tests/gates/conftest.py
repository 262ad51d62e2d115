"""Real data for the gate tests: scikit-lego's arrests (5,226 rows; protected colour, sex, age).

Models are trained once per session: a fair logistic regression, a gradient-boosting model, a
deliberately unfair model (trained on labels that deny release to every Black arrestee) and a
badly calibrated one (class-weight "balanced" pushes its probabilities away from the base rate).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
CATEGORICAL = ["colour", "sex", "employed", "citizen"]
NUMERIC = ["year", "age", "checks"]


def pipeline(estimator: Any, handle_unknown: str = "ignore") -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown=handle_unknown, sparse_output=False), CATEGORICAL),
            ("num", StandardScaler(), NUMERIC),
        ]
    )
    return Pipeline([("pre", pre), ("model", estimator)])


@pytest.fixture(scope="session")
def arrests() -> pd.DataFrame:
    from sklego.datasets import load_arrests

    return pd.DataFrame(load_arrests(as_frame=True))


@pytest.fixture(scope="session")
def split(arrests: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        arrests, test_size=0.3, random_state=0, stratify=arrests["released"]
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _y(df: pd.DataFrame) -> pd.Series:
    return (df["released"] == "Yes").astype(int)


@pytest.fixture(scope="session")
def models(split: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, Any]:
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    train, _ = split
    X, y = train[FEATURES], _y(train)
    biased = np.where(train["colour"] == "Black", 0, y)
    return {
        "fair": pipeline(LogisticRegression(max_iter=1000)).fit(X, y),
        "boosting": pipeline(
            HistGradientBoostingClassifier(max_depth=3, max_iter=60, random_state=0)
        ).fit(X, y),
        "unfair": pipeline(LogisticRegression(max_iter=1000)).fit(X, biased),
        "miscalibrated": pipeline(LogisticRegression(max_iter=1000, class_weight="balanced")).fit(
            X, y
        ),
        "strict_encoder": pipeline(LogisticRegression(max_iter=1000), "error").fit(X, y),
        "dummy": pipeline(DummyClassifier(strategy="prior")).fit(X, y),
    }


ARRESTS_SCHEMA_COLUMNS = {
    "colour": {"type": "string", "categorical": True, "categories": ["Black", "White"]},
    "year": {"type": "integer", "categorical": False},
    "age": {"type": "integer", "categorical": False},
    "sex": {"type": "string", "categorical": True, "categories": ["Female", "Male"]},
    "employed": {"type": "string", "categorical": True, "categories": ["No", "Yes"]},
    "citizen": {"type": "string", "categorical": True, "categories": ["No", "Yes"]},
    "checks": {"type": "integer", "categorical": False},
}


@pytest.fixture
def make_ctx(
    split: tuple[pd.DataFrame, pd.DataFrame], models: dict[str, Any]
) -> Callable[..., Any]:
    """Build a GateContext on the arrests hold-out set for a named candidate (and champion)."""
    from modelyard.core.gate_policy import GatePolicy
    from modelyard.gates.context import GateContext, Side
    from modelyard.registry.signature import infer_signature

    _, test = split

    def build(
        candidate: str = "fair",
        champion: str | None = None,
        frame: pd.DataFrame | None = None,
        **policy: Any,
    ) -> GateContext:
        data = test if frame is None else frame
        schema = {
            "columns": [
                {
                    "name": c,
                    "nullable": False,
                    "protected": c in ("colour", "sex", "age"),
                    **ARRESTS_SCHEMA_COLUMNS[c],
                }
                for c in FEATURES
            ],
            "target": "released",
        }
        model = models[candidate]
        sig = infer_signature(model, test[FEATURES].head(5), schema)
        return GateContext(
            frame=data,
            target="released",
            candidate=Side("candidate", model, f"arrests@{candidate}", 100_000),
            champion=Side("champion", models[champion], f"arrests@{champion}", 100_000)
            if champion
            else None,
            policy=GatePolicy(positive_label="Yes", **policy),
            dataset_schema=schema,
            signature=sig,
        )

    return build


PROJECT_YAML = """\
identity: os
name: gates-test
models:
  arrests:
    owner: risk@example.org
    task: classification
    train: train_arrests:fit
    sla: {{latency_p99_ms: 50}}
    gates:
{gates}
datasets:
  arrests-train: {{target: released, protected: [colour, sex, age]}}
  arrests-eval: {{target: released, protected: [colour, sex, age]}}
"""

DEFAULT_GATES = """\
dataset: arrests-eval@1
positive_label: "Yes"
metrics:
  thresholds: {roc_auc: {min: 0.65}, accuracy: {min: 0.8}}
segments:
  - {name: young, filter: "age < 25", metric: accuracy, min: 0.75, max_gap: 0.06}
fairness:
  attributes: [colour, sex]
  demographic_parity_difference: 0.10
  counterfactual_max_flip_rate: 0.05
calibration: {max_ece: 0.05}
schema:
"""

TRAIN_MODULE = '''\
"""The project's training entrypoint: the same function the recorded run called."""
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
CATEGORICAL = ["colour", "sex", "employed", "citizen"]


def fit(inputs):
    df = inputs.datasets["train"]
    y = (df["released"] == "Yes").astype(int)
    if inputs.params.get("biased"):
        y = y.where(df["colour"] != "Black", 0)
    pre = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
        ("num", StandardScaler(), ["year", "age", "checks"]),
    ])
    est = LogisticRegression(max_iter=1000, C=inputs.params.get("C", 1.0))
    return Pipeline([("pre", pre), ("model", est)]).fit(df[FEATURES], y)
'''


@pytest.fixture
def gate_project(tmp_path: Path, split: tuple[pd.DataFrame, pd.DataFrame]) -> Callable[..., Any]:
    """A real project folder (SQLite + artifacts) with train/eval datasets registered."""
    from modelyard.registry.registry import Registry

    def build(gates: str = DEFAULT_GATES) -> Any:
        root = tmp_path / "proj"
        root.mkdir(exist_ok=True)
        body = textwrap.indent(gates, " " * 6)
        (root / "modelyard.yaml").write_text(PROJECT_YAML.format(gates=body), encoding="utf-8")
        (root / "train_arrests.py").write_text(TRAIN_MODULE, encoding="utf-8")
        reg = Registry.init(root, env={"MODELYARD_USER": "tester"}, identity="os")
        train, test = split
        reg.add_dataset(train, "arrests-train", source="sklego arrests (train split)")
        reg.add_dataset(test, "arrests-eval", source="sklego arrests (eval split)")
        return reg

    return build


def train_version(reg: Any, **params: Any) -> Any:
    """Train through a recorded run with the project's own entrypoint, like a user script."""
    import sys

    root = str(reg.settings.project_dir)
    sys.path.insert(0, root)
    try:
        from train_arrests import fit
    finally:
        sys.path.remove(root)
    from modelyard.gates.retrain import TrainingInputs

    with reg.start_run("arrests", params=params, seed=0) as run:
        ds = run.use_dataset("arrests-train@1", role="train")
        df = reg.load_dataset(ds)
        model = fit(TrainingInputs({"train": df}, {"train": ds.ref}, dict(run.params), 0))
        return run.log_model(model, sample_input=df[FEATURES].head(20))
