"""Live windows: what a server replica calls per request, and what it flushes in the background.

One ``LiveWindows`` per (model version, endpoint) per replica::

    windows = LiveWindows(baseline, stream="credit@3/predict", replica="pod-a", width_s=60)
    windows.record(features, prediction=p, latency_ms=ms, error=False)   # hot path, O(features)
    for closed in windows.drain():        # background task, e.g. every few seconds
        store.put(closed.to_json())       # keyed by stream, start, replica

Windows are aligned on ``width_s`` boundaries of the clock (so replicas agree on them without
talking), a request is counted in the window of its timestamp (``at``, default: now), and a
window is handed out by ``drain`` once it ended more than ``grace_s`` ago. The clock is injected
(``clock=``) so tests drive time deterministically. Nothing here is shared between replicas: the
monitor merges the closed windows of all replicas (``merge_windows``) and compares the result
with the baseline (``drift.compare_baseline``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.monitoring.baseline import Baseline
from modelyard.monitoring.sketch import WindowSketch


@dataclass(frozen=True)
class ClosedWindow:
    stream: str
    replica: str
    start: float
    end: float
    sketch: WindowSketch

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "replica": self.replica,
            "start": self.start,
            "end": self.end,
            "sketch": self.sketch.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], baseline: Baseline | None = None) -> ClosedWindow:
        layout = None if baseline is None else baseline.layout
        return cls(
            stream=str(data["stream"]),
            replica=str(data["replica"]),
            start=float(data["start"]),
            end=float(data["end"]),
            sketch=WindowSketch.from_dict(data["sketch"], layout),
        )


class LiveWindows:
    def __init__(
        self,
        baseline: Baseline,
        *,
        stream: str,
        replica: str = "local",
        width_s: float = 60.0,
        grace_s: float = 5.0,
        sample_size: int = 256,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if width_s <= 0:
            raise ValueError(f"width_s must be > 0, got {width_s}")
        self.baseline = baseline
        self.stream = stream
        self.replica = replica
        self.width_s = width_s
        self.grace_s = grace_s
        self.sample_size = sample_size
        self._clock = clock
        self._open: dict[float, WindowSketch] = {}
        self._start = -math.inf
        self._current: WindowSketch | None = None

    def record(
        self,
        row: Mapping[str, Any],
        prediction: Any = None,
        latency_ms: float | None = None,
        error: bool = False,
        at: float | None = None,
    ) -> None:
        """Count one request in the window of ``at`` (default: now)."""
        t = self._clock() if at is None else at
        start = t - (t % self.width_s)
        sketch = self._current if start == self._start else None
        if sketch is None:
            sketch = self._open.get(start)
            if sketch is None:
                sketch = self.baseline.new_window(sample_size=self.sample_size)
                self._open[start] = sketch
            if at is None:
                self._start, self._current = start, sketch
        sketch.update(row, prediction, latency_ms, error)

    def sketch_at(self, at: float) -> WindowSketch:
        """The open sketch of the window holding ``at`` (created on first use), for a feeder
        that counts in batches (``update_columns``) off the request path."""
        start = at - (at % self.width_s)
        sketch = self._open.get(start)
        if sketch is None:
            sketch = self.baseline.new_window(sample_size=self.sample_size)
            self._open[start] = sketch
        return sketch

    def drain(self, now: float | None = None, force: bool = False) -> list[ClosedWindow]:
        """Windows that ended over ``grace_s`` ago (all of them with ``force``), oldest first."""
        t = self._clock() if now is None else now
        done = sorted(s for s in self._open if force or s + self.width_s + self.grace_s <= t)
        out = []
        for start in done:
            sketch = self._open.pop(start)
            if start == self._start:
                self._start, self._current = -math.inf, None
            out.append(ClosedWindow(self.stream, self.replica, start, start + self.width_s, sketch))
        return out


def merge_windows(windows: Iterable[ClosedWindow | WindowSketch]) -> WindowSketch | None:
    """One sketch for many windows (replicas and/or consecutive periods)."""
    merged: WindowSketch | None = None
    for w in windows:
        sketch = w.sketch if isinstance(w, ClosedWindow) else w
        merged = sketch if merged is None else merged.merge(sketch)
    return merged
