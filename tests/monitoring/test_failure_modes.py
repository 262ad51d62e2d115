"""Pipeline failures on real data (tests/monitoring/failure_modes.py): each one flagged by its
check at 100k rows (and 1M, slow), no clean column flagged; window sketches see all but the
in-range sentinel (a sketch keeps bins, not values)."""

from __future__ import annotations

import pandas as pd
import pytest

from modelyard.monitoring.baseline import Baseline
from modelyard.monitoring.drift import DriftResult, DriftSettings, compare_baseline, compare_frames

from .failure_modes import Failure, clean_split, inject

SETTINGS = DriftSettings(multivariate=False)


def _fired(result: DriftResult) -> dict[str, set[str]]:
    return {f.name: {s.signal for s in f.signals if s.drifted} for f in result.features}


def _check_raw(ref: pd.DataFrame, cur: pd.DataFrame, failures: list[Failure]) -> None:
    result = compare_frames(ref, cur, SETTINGS)
    fired = _fired(result)
    assert set(result.drifted_features) == {f.column for f in failures}, fired
    for f in failures:
        assert f.signals <= fired[f.column], (f.mode, fired[f.column])
    by_name = {f.name: f for f in result.features}
    assert by_name["dep_delay"].tests["sentinel"].detail["value"] == -999.0
    assert by_name["air_time"].tests["sentinel"].detail["value"] == 250.0
    assert by_name["origin"].tests["new_categories"].detail["case_of"] == {"jfk": "JFK"}
    assert by_name["carrier"].tests["vanished_categories"].detail["values"].keys() == {"F9"}
    (stamp,) = result.datetimes  # time_hour: range and freshness, not a drift test
    assert stamp.name == "time_hour" and stamp.lag_s is not None


def _check_sketch(ref: pd.DataFrame, cur: pd.DataFrame, failures: list[Failure]) -> None:
    base = Baseline.from_frame(ref.drop(columns=["time_hour"]))
    window = base.new_window()
    window.update_batch(cur.drop(columns=["time_hour"]))
    result = compare_baseline(base, window, SETTINGS)
    fired = _fired(result)
    assert set(result.drifted_features) == {f.column for f in failures if f.in_sketch}, fired


@pytest.mark.parametrize("check", [_check_raw, _check_sketch], ids=["raw", "sketch"])
def test_every_failure_flagged_and_no_clean_column_at_100k(check: object) -> None:
    ref, cur = clean_split(100_000)
    failures = inject(cur)
    check(ref, cur, failures)  # type: ignore[operator]


@pytest.mark.slow
def test_every_failure_flagged_and_no_clean_column_at_1m() -> None:
    ref, cur = clean_split(1_000_000)
    failures = inject(cur)
    _check_raw(ref, cur, failures)
    _check_sketch(ref, cur, failures)


def test_a_clean_split_flags_nothing() -> None:
    ref, cur = clean_split(100_000, seed=3)
    assert compare_frames(ref, cur, SETTINGS).drifted_features == []
