"""Datetime columns in a batch report: their range and freshness, not a drift test.

A timestamp column (event time, ingestion time) moves forward by design, so comparing its
distribution with the reference always "drifts". What matters is whether the current data is
fresh: the lag between its newest timestamp and the report's ``as_of`` time (the window end, or
now), a classic sign of a stalled pipeline. Naive timestamps are read as UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DatetimeColumn:
    name: str
    n_ref: int
    n_cur: int
    ref_missing: int
    cur_missing: int
    ref_min: dt.datetime | None
    ref_max: dt.datetime | None
    cur_min: dt.datetime | None
    cur_max: dt.datetime | None
    as_of: dt.datetime

    @property
    def lag_s(self) -> float | None:
        """Seconds from the newest current timestamp to ``as_of`` (negative: in the future)."""
        return None if self.cur_max is None else (self.as_of - self.cur_max).total_seconds()

    @property
    def advance_s(self) -> float | None:
        """How far the current data's newest timestamp is past the reference's newest."""
        if self.cur_max is None or self.ref_max is None:
            return None
        return (self.cur_max - self.ref_max).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        def iso(t: dt.datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "name": self.name,
            "n_ref": self.n_ref,
            "n_cur": self.n_cur,
            "ref_missing": self.ref_missing,
            "cur_missing": self.cur_missing,
            "ref_range": [iso(self.ref_min), iso(self.ref_max)],
            "cur_range": [iso(self.cur_min), iso(self.cur_max)],
            "as_of": iso(self.as_of),
            "lag_s": self.lag_s,
            "advance_s": self.advance_s,
        }


def datetime_column(name: str, ref: Any, cur: Any, as_of: dt.datetime) -> DatetimeColumn:
    """Range and freshness of one datetime column (pandas Series) as of ``as_of``."""
    r, c = _utc(ref), _utc(cur)
    return DatetimeColumn(
        name=name,
        n_ref=len(r),
        n_cur=len(c),
        ref_missing=int(r.isna().sum()),
        cur_missing=int(c.isna().sum()),
        ref_min=_py(r.min()),
        ref_max=_py(r.max()),
        cur_min=_py(c.min()),
        cur_max=_py(c.max()),
        as_of=as_utc(as_of),
    )


def as_utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _utc(series: Any) -> Any:
    import pandas as pd

    s = pd.to_datetime(series, errors="coerce")
    return s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")


def _py(value: Any) -> dt.datetime | None:
    import pandas as pd

    if value is None or pd.isna(value):
        return None
    return as_utc(pd.Timestamp(value).to_pydatetime())
