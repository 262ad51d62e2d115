"""The serving benchmark's models and data: scikit-learn's breast-cancer data, a logistic
pipeline and a random forest fitted on it and written once with joblib (every server scores the
same fitted objects), and each one's in-process predict time."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness import log

MODEL_TITLES = {
    "logreg": "StandardScaler + LogisticRegression pipeline",
    "forest": "RandomForest, 100 trees, max_depth 8",
}


@dataclass
class BenchModel:
    name: str
    title: str
    estimator: Any
    path: Path  # joblib file every server loads
    local_predict_us: float  # model.predict on one row (DataFrame), median, in-process
    local_predict_array_us: float  # the same on a bare 1x30 float64 array


@dataclass
class Dataset:
    frame: Any  # pandas.DataFrame with the feature names
    rows: list[list[float]]
    columns: list[str]


def load_data() -> Dataset:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.astype("float64")
    frame.attrs["target"] = bunch.target.to_numpy()
    return Dataset(frame, frame.to_numpy().tolist(), [str(c) for c in frame.columns])


def time_predict(estimator: Any, one_row: Any, budget_s: float = 0.5) -> float:
    """Median CPU time of one ``predict`` in µs (CPU, not wall: other jobs may share the core)."""
    estimator.predict(one_row)
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while time.perf_counter() < deadline or len(samples) < 5:
        t0 = time.thread_time()
        estimator.predict(one_row)
        samples.append(time.thread_time() - t0)
    return float(np.median(samples) * 1e6)


def train_models(data: Dataset, workdir: Path, names: Sequence[str]) -> list[BenchModel]:
    import joblib
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = data.frame.attrs["target"]
    makers: dict[str, Callable[[], Any]] = {
        "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "forest": lambda: RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0),
    }
    models = []
    for name in names:
        est = makers[name]().fit(data.frame, y)
        path = workdir / f"{name}.joblib"
        joblib.dump(est, path)
        us = time_predict(est, data.frame.head(1))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            us_array = time_predict(est, data.frame.head(1).to_numpy())
        models.append(BenchModel(name, MODEL_TITLES[name], est, path, us, us_array))
        log(
            f"trained {name}: train accuracy {est.score(data.frame, y):.3f}, local predict(1 row) "
            f"{us:.0f} µs on a DataFrame, {us_array:.0f} µs on an array"
        )
    return models
