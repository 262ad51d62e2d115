"""The buffered prediction log's flush writes each answer's line, in order, to the file of its
endpoint and UTC day (``<endpoint>/<YYYY-MM-DD>/<pid>.jsonl``), whatever the batch mixes; the
line's ``at`` is the text ``datetime.isoformat`` gives."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.core.endpoint_config import PredictionLogConfig
from modelyard.serving.predlog import PredictionLog, utc_iso

MIDNIGHT = dt.datetime(2026, 12, 4, tzinfo=dt.UTC).timestamp()


def _answer(i: int) -> Any:
    version = SimpleNamespace(ref="m@1", id=1)
    outputs = {"predict": np.array([i % 2]), "proba": np.array([[0.25, 0.75]])}
    return SimpleNamespace(
        version=version, outputs=outputs, role="production", fallback_reason=None, frame=None
    )


def test_a_flush_writes_every_line_in_order_to_its_endpoint_and_day(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    config = PredictionLogConfig(input_sample=0.0)
    times = [MIDNIGHT - 2.5, MIDNIGHT - 0.001, MIDNIGHT, MIDNIGHT + 1.0, MIDNIGHT - 1.0]
    for i, at in enumerate(times * 2):
        endpoint = "a" if i % 3 else "b"
        log.record(endpoint, config, frozenset(), f"id{i}", 0.001 * i, _answer(i), at=at)
    batch = list(log.pending)
    want: dict[Path, bytes] = {}
    for e in batch:
        day = dt.datetime.fromtimestamp(e.at, dt.UTC).strftime("%Y-%m-%d")
        path = tmp_path / e.endpoint / day / f"{os.getpid()}.jsonl"
        want[path] = want.get(path, b"") + log._line(e)
    log._write(batch)
    got = {p: p.read_bytes() for p in tmp_path.rglob("*.jsonl")}
    assert got == want
    assert len(got) == 4  # two endpoints, two days
    assert log.written == len(batch)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.floats(0, 4e9),
        st.floats(0, 4e9).map(lambda t: round(t, 6)),
        st.integers(0, 4 * 10**9).map(lambda s: s + 0.9999995),
        st.integers(0, 4 * 10**9).map(float),
    )
)
def test_utc_iso_is_the_datetime_isoformat_text(at: float) -> None:
    assert utc_iso(at) == dt.datetime.fromtimestamp(at, dt.UTC).isoformat()
