"""Live windows fed by the inference server: one ``LiveMonitor`` per server replica.

The server calls ``observe`` after every answer, failure and shadow answer (the serving
``Observer`` protocol, met structurally: monitoring does not import serving). ``observe`` only
appends a tuple to a bounded list; a full list counts a drop. A background task (``start``)
swaps the list about every second and, on a worker thread:

1. resolves each answer's model version (cached by id; failures by ``MODEL@VERSION``) and its
   baseline (``BaselineCache``: the same bins in every replica and in the monitor);
2. counts the rows into one ``LiveWindows`` per (endpoint, version) with the project's
   ``monitoring`` settings (``window_s``, ``grace_s``, ``sample_size``), vectorised: the rows of
   all answers that fall in one window go through a single ``WindowSketch.update_columns``
   (the frames' arrays joined per feature, no DataFrame), with
   the monitored prediction (``prediction_scalar``), the request latency and the inference CPU
   the batcher measured (``answer.cpu_s``, summed per window);
3. drains the windows that closed (ended over ``grace_s`` ago) and writes them with
   ``WindowStore.put``, which merges a window this replica already wrote (a late request).

``stop`` drains every open window and flushes. A version without a baseline (no training data
recorded) is skipped with one warning. Nothing here raises into the server: failures are
logged, and rows the store refused are kept (bounded) and retried at the next flush.

What a window counts: ``requests`` are predictions (rows) plus failed requests, ``errors`` are
failed requests whose version is known (the server names it); a failed request has no rows, so
it adds to requests, errors and the latency histogram but not to the feature counts. Shadow
answers are counted under the shadow version.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from modelyard.monitoring.baseline import Baseline
from modelyard.monitoring.sketch import LATENCY_BUCKETS_MS, WindowSketch
from modelyard.monitoring.version_baseline import BaselineCache, prediction_scalar
from modelyard.monitoring.window import ClosedWindow, LiveWindows
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.metadata import Row
from modelyard.store.windows import WindowStore

log = logging.getLogger("modelyard.monitoring")

REPLICA_ENV = "MODELYARD_REPLICA"
FLUSH_S = 1.0
MAX_PENDING = 100_000  # observations buffered between flushes; beyond are dropped (counted)
MAX_UNSENT = 1_000  # closed windows kept for retry while the store refuses them
_UNKNOWN: Any = object()  # a stream not looked up yet in this flush


# ---- what is read from the server's answers (structural: serving is not imported) ----------
class VersionLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def ref(self) -> str: ...


class FrameLike(Protocol):
    @property
    def n(self) -> int: ...
    @property
    def names(self) -> tuple[str, ...]: ...
    def as_dataframe(self) -> Any: ...


class AnswerLike(Protocol):
    @property
    def version(self) -> VersionLike: ...
    @property
    def frame(self) -> FrameLike | None: ...
    @property
    def outputs(self) -> Mapping[str, Any]: ...
    @property
    def role(self) -> str: ...
    @property
    def cpu_s(self) -> float: ...


# (time observed, endpoint, answer or None, latency seconds, failed version ref or None)
Observation = tuple[float, str, AnswerLike | None, float, str | None]


def replica_id(env: Mapping[str, str] | None = None, worker: bool = False) -> str:
    """``MODELYARD_REPLICA`` if set, else ``hostname-pid``. With ``worker`` (one of several
    ``--workers`` processes sharing one environment) the pid is always appended, so each
    worker writes its own windows."""
    env = os.environ if env is None else env
    name = env.get(REPLICA_ENV, "").strip()
    if not name:
        return f"{socket.gethostname()}-{os.getpid()}"
    return f"{name}-{os.getpid()}" if worker else name


def merge_sketch_json(stored: str, new: str) -> str:
    """The ``WindowStore.put`` merge: one window flushed twice by a replica."""
    return WindowSketch.from_json(stored).merge(WindowSketch.from_json(new)).to_json()


@dataclass
class _Stream:
    """One (endpoint, version) of this replica: its windows and their inference CPU."""

    endpoint: str
    version_id: int
    windows: LiveWindows
    cpu_s: dict[float, float] = field(default_factory=dict)  # window start -> CPU seconds


@dataclass
class _Pending:
    """What one flush brings to one window of one stream."""

    frames: list[FrameLike] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)  # per frame: its ``predict``, or None
    latency_ms: list[float] = field(default_factory=list)  # per frame
    failures_ms: list[float] = field(default_factory=list)  # per failed request
    cpu_s: float = 0.0


class LiveMonitor:
    """Feeds live windows from a server replica's traffic (see the module docstring)."""

    def __init__(
        self,
        reg: Registry,
        *,
        replica: str | None = None,
        clock: Callable[[], float] = time.time,
        flush_s: float = FLUSH_S,
        max_pending: int = MAX_PENDING,
    ) -> None:
        cfg = reg.config.monitoring
        self.reg = reg
        self.replica = replica or replica_id()
        self.width_s = cfg.window_s
        self.grace_s = cfg.grace_s
        self.sample_size = cfg.sample_size
        self.flush_s = flush_s
        self.max_pending = max_pending
        self.baselines = BaselineCache(reg)
        self.store = WindowStore(reg.store)
        self.stats: Counter[str] = Counter()  # observed, dropped, unattributed, skipped, ...
        self._clock = clock
        self._buffer: list[Observation] = []
        self._streams: dict[tuple[str, int], _Stream] = {}
        self._by_id: dict[int, ModelVersion | None] = {}
        self._by_ref: dict[str, ModelVersion | None] = {}
        self._warned: set[int | str] = set()
        self._unsent: list[Row] = []
        self._lock = threading.Lock()  # one flush at a time (the loop, then stop)
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    # ---- the request path (event loop) -----------------------------------------------------
    def observe(
        self,
        endpoint: str,
        prediction_id: str,
        answer: AnswerLike | None,
        latency_s: float,
        failed_version: str | None = None,
    ) -> None:
        buf = self._buffer
        if len(buf) >= self.max_pending:
            self.stats["dropped"] += 1
            return
        buf.append((self._clock(), endpoint, answer, latency_s, failed_version))

    # ---- the background task ---------------------------------------------------------------
    async def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop, then count what is buffered and write every open window."""
        if self._task is not None and self._stop is not None:
            self._stop.set()
            await self._task
            self._task = None
        await self.flush(force=True)

    async def _run(self) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.flush_s)
            if not self._stop.is_set():
                await self.flush()

    async def flush(self, force: bool = False) -> int:
        """Swap the buffer and process it off the event loop; never raises."""
        batch, self._buffer = self._buffer, []
        try:
            return await asyncio.to_thread(self.process, batch, force)
        except Exception:
            log.exception("live monitoring: a flush failed; the server keeps answering")
            return 0

    # ---- the work (worker thread) ----------------------------------------------------------
    def process(
        self, batch: Sequence[Observation], force: bool = False, now: float | None = None
    ) -> int:
        """Count ``batch``, write the windows closed at ``now`` (all with ``force``) and
        return how many window rows were written."""
        with self._lock:
            self.stats["observed"] += len(batch)
            for (endpoint, vid, start), pending in self._group(batch).items():
                stream = self._streams[(endpoint, vid)]
                try:
                    _feed(stream.windows.sketch_at(start), pending)
                except Exception:
                    log.exception("live monitoring: could not count a window of %s", endpoint)
                    continue
                stream.cpu_s[start] = stream.cpu_s.get(start, 0.0) + pending.cpu_s
            rows = self._closed(now, force)
            return self._write(rows)

    def _group(self, batch: Sequence[Observation]) -> dict[tuple[str, int, float], _Pending]:
        groups: dict[tuple[str, int, float], _Pending] = {}
        streams: dict[tuple[str, int], _Stream | None] = {}  # (endpoint, version id) -> stream
        width = self.width_s
        for at, endpoint, answer, latency_s, failed in batch:
            if answer is not None:
                vid = answer.version.id
                stream = streams.get((endpoint, vid), _UNKNOWN)
                if stream is _UNKNOWN:
                    stream = streams[endpoint, vid] = self._stream(
                        endpoint, self._version_by_id(vid)
                    )
            elif failed:
                stream = self._stream(endpoint, self._version_by_ref(failed))
            else:
                self.stats["unattributed"] += 1  # a failure whose version is unknown
                continue
            if stream is None:
                self.stats["skipped"] += 1
                continue
            key = (endpoint, stream.version_id, at - (at % width))
            pending = groups.get(key)
            if pending is None:
                pending = groups[key] = _Pending()
            if answer is None:
                pending.failures_ms.append(latency_s * 1000.0)
                continue
            pending.cpu_s += answer.cpu_s
            frame = answer.frame
            if frame is None or frame.n == 0:
                continue
            pending.frames.append(frame)
            pending.predictions.append(answer.outputs.get("predict"))
            pending.latency_ms.append(latency_s * 1000.0)
        return groups

    def _stream(self, endpoint: str, mv: ModelVersion | None) -> _Stream | None:
        if mv is None:
            return None
        stream = self._streams.get((endpoint, mv.id))
        if stream is not None:
            return stream
        baseline = self._baseline(mv)
        if baseline is None:
            return None
        windows = LiveWindows(
            baseline,
            stream=f"{endpoint}/{mv.ref}",
            replica=self.replica,
            width_s=self.width_s,
            grace_s=self.grace_s,
            sample_size=self.sample_size,
            clock=self._clock,
        )
        stream = self._streams[(endpoint, mv.id)] = _Stream(endpoint, mv.id, windows)
        return stream

    def _baseline(self, mv: ModelVersion) -> Baseline | None:
        baseline = self.baselines.get(mv)
        if baseline is None and mv.id not in self._warned:
            self._warned.add(mv.id)
            log.warning(
                "live monitoring: %s has no baseline (no training data recorded for it); "
                "its traffic is not windowed",
                mv.ref,
            )
        return baseline

    def _version_by_id(self, version_id: int) -> ModelVersion | None:
        if version_id not in self._by_id:
            mv = None
            try:
                mv = self.reg.store.versions.by_id(version_id)
            except Exception:
                log.warning("live monitoring: model version id %s not found", version_id)
            self._by_id[version_id] = mv
        return self._by_id[version_id]

    def _version_by_ref(self, ref: str) -> ModelVersion | None:
        if ref not in self._by_ref:
            mv = None
            try:
                mv = self.reg.model_version(ref)
            except Exception:
                log.warning("live monitoring: failed requests name %r, not a model version", ref)
            self._by_ref[ref] = mv
        return self._by_ref[ref]

    def _closed(self, now: float | None, force: bool) -> list[Row]:
        rows: list[Row] = []
        for stream in self._streams.values():
            for w in stream.windows.drain(now, force):
                rows.append(self._row(stream, w, stream.cpu_s.pop(w.start, 0.0)))
        return rows

    def _row(self, stream: _Stream, w: ClosedWindow, cpu_s: float) -> Row:
        return {
            "endpoint": stream.endpoint,
            "version_id": stream.version_id,
            "replica": self.replica,
            "start": dt.datetime.fromtimestamp(w.start, tz=dt.UTC),
            "end": dt.datetime.fromtimestamp(w.end, tz=dt.UTC),
            "requests": w.sketch.requests,
            "errors": w.sketch.errors,
            "cpu_s": cpu_s,
            "sketch": w.sketch.to_json(),
        }

    def _write(self, rows: list[Row]) -> int:
        rows = self._unsent + rows
        self._unsent = []
        if not rows:
            return 0
        try:
            written = self.store.put(rows, merge=merge_sketch_json)
        except Exception:
            keep = rows[-MAX_UNSENT:]
            self.stats["lost"] += len(rows) - len(keep)
            self._unsent = keep
            log.warning(
                "live monitoring: could not write %d window(s); retrying at the next flush",
                len(rows),
                exc_info=True,
            )
            return 0
        self.stats["written"] += written
        return written


def _feed(sketch: WindowSketch, pending: _Pending) -> None:
    """Count one flush's traffic of one window: rows in (at most) two vectorised batches
    (answers with and without a prediction), failed requests one by one."""
    groups: list[tuple[list[int], Any]] = []
    joined = _joined_predictions(pending.predictions)
    if joined is not None:
        groups.append((list(range(len(pending.frames))), joined))
    else:
        scalars = [_prediction(p) for p in pending.predictions]
        with_pred = [i for i, p in enumerate(scalars) if p is not None]
        without = [i for i, p in enumerate(scalars) if p is None]
        if with_pred:
            arrays = [np.asarray(scalars[i]).reshape(-1) for i in with_pred]
            groups.append((with_pred, np.concatenate(arrays)))
        if without:
            groups.append((without, None))
    for idx, predictions in groups:
        frames = [pending.frames[i] for i in idx]
        sizes = [f.n for f in frames]
        latency = np.repeat([pending.latency_ms[i] for i in idx], sizes)
        sketch.update_columns(
            sum(sizes), _columns(frames), predictions=predictions, latency_ms=latency
        )
    for ms in pending.failures_ms:
        sketch.requests += 1
        sketch.errors += 1
        sketch.latency_counts[bisect_right(LATENCY_BUCKETS_MS, ms)] += 1
        sketch.latency_sum_ms += ms


def _prediction(predict: Any) -> Any:
    """The monitored prediction of one answer's ``predict`` output (None: none, or one we
    cannot read: its rows are counted without it)."""
    if predict is None:
        return None
    try:
        return prediction_scalar({"predict": predict})
    except Exception:
        return None


def _joined_predictions(outputs: list[Any]) -> Any:
    """The monitored predictions of all answers at once, when every answer has a ``predict``
    of one dtype and row shape (one ``prediction_scalar`` over their concatenation is then
    the concatenation of theirs); else None."""
    if not outputs or any(p is None for p in outputs):
        return None
    arrays = [np.asarray(p) for p in outputs]
    first = arrays[0]
    if first.ndim == 0 or any(
        a.dtype != first.dtype or a.shape[1:] != first.shape[1:] for a in arrays
    ):
        return None
    try:
        return prediction_scalar({"predict": np.concatenate(arrays)})
    except Exception:
        return None


def _columns(frames: Sequence[FrameLike]) -> dict[str, np.ndarray]:
    """One array per feature over the frames' rows, joined without a DataFrame (a frame of
    other columns than the first one's goes through its DataFrame)."""
    names = frames[0].names
    if all(f.names == names for f in frames):
        matrices = [m for f in frames if (m := getattr(f, "matrix", None)) is not None]
        if len(matrices) == len(frames):
            matrix = matrices[0] if len(matrices) == 1 else np.concatenate(matrices)
            return {n: matrix[:, j] for j, n in enumerate(names)}
        columns = [c for f in frames if (c := getattr(f, "columns", None)) is not None]
        if len(columns) == len(frames):
            if len(columns) == 1:
                return dict(zip(names, columns[0], strict=True))
            per_feature = zip(*columns, strict=True)
            return {n: np.concatenate(c) for n, c in zip(names, per_feature, strict=True)}
    import pandas as pd

    df = pd.concat([f.as_dataframe() for f in frames], ignore_index=True)
    return {str(n): df[n].to_numpy() for n in df.columns}
