"""The monitor: judges closed live windows against each version's baseline, stores the verdict,
and applies the alert rules to each endpoint's windows.

One ``tick``:

1. **Judge.** Closed windows (ended ``grace_s + interval_s`` ago, so every replica has flushed)
   that have no verdict yet, or whose request count changed since (late rows), are grouped by
   (endpoint, version, start); the replicas' sketches are merged and compared with the
   version's baseline (``BaselineCache``, drift settings from ``monitoring.drift``). The verdict
   (``monitor_results.summary``) holds the signals rules read (``signals``: the names listed in
   ``core.monitor_config``), the latency histogram, and the compact drift result with the
   per-feature detail the dashboard charts (``drift``).
2. **Alert.** For each endpoint and window start, one *endpoint view* is built from the
   verdicts of all versions serving in that window, traffic-weighted:

   * ``requests``, ``error_rate``, ``latency.*`` — over all versions merged (what clients saw);
   * ``drift.*``, ``feature.*``, ``prediction.*``, ``multivariate.*``, ``quality.*`` — of the
     version that answered the most requests in the window (ties: the newest version), so a
     1 % canary does not speak for the endpoint; its model's SLA backs ``threshold: sla``.

   Each rule (``monitoring.alerts``, filtered by its ``endpoints``) counts the window once
   (``alerts.AlertBook``); the events (fired, resolved) are returned for sinks and playbooks.

   A gap is not a clear window: a window without traffic leaves every other rule's counters
   alone (an open drift alert stays open while nobody calls). When a rule reads
   ``no_traffic``, each closed ``window_s`` slot after an endpoint's first window in the
   lookback that has no verdict becomes a *gap view* (``requests`` 0, ``no_traffic`` 1), so an
   idle endpoint raises its own alert, which resolves once traffic is back.

Windows are looked at for ``monitoring.lookback_s`` (default 24 h): older ones are neither
judged nor alerted on.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelyard.core.errors import ConfigError
from modelyard.core.monitor_config import NO_TRAFFIC, AlertRule
from modelyard.core.monitoring_records import WindowVerdict
from modelyard.monitoring.alerts import AlertBook, AlertEvent, sla_threshold
from modelyard.monitoring.drift import DriftResult, DriftSettings, compare_baseline
from modelyard.monitoring.sketch import LATENCY_BUCKETS_MS, WindowSketch
from modelyard.monitoring.version_baseline import BaselineCache
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.windows import WindowStore

log = logging.getLogger("modelyard.monitoring")

QualityFn = Callable[[str, int, dt.datetime, dt.datetime], Mapping[str, float]]
SUMMARY_FORMAT = "modelyard.monitor-result/1"


@dataclass(frozen=True)
class EndpointView:
    """What the rules of one endpoint read for one window start."""

    endpoint: str
    start: dt.datetime
    signals: dict[str, float]
    primary_version_id: int | None  # None: a gap (no version answered)
    model: str
    versions: dict[str, int] = field(default_factory=dict)  # ref -> requests


class Monitor:
    def __init__(
        self,
        reg: Registry,
        *,
        quality: QualityFn | None = None,
        clock: Callable[[], float] = time.time,
        lookback_s: float | None = None,
    ) -> None:
        self.reg = reg
        self.config = reg.config.monitoring
        try:
            self.settings = DriftSettings.from_dict(self.config.drift)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"modelyard.yaml monitoring.drift: {exc}",
                hint="see docs/monitoring.md for the drift settings",
            ) from None
        self.quality = quality
        self.clock = clock
        self.lookback_s = self.config.lookback_s if lookback_s is None else lookback_s
        self.settle_s = self.config.grace_s + self.config.interval_s
        self.windows = WindowStore(reg.store)
        self.book = AlertBook(reg.store)
        self.baselines = BaselineCache(reg)
        self._versions: dict[int, ModelVersion] = {}
        self._scanned = False  # the first tick re-checks every endpoint (crash recovery)
        self.judged = 0  # windows judged by the last tick
        self._done: dict[tuple[str, int, dt.datetime], int] | None = None  # verdicts' requests

    def resume(self) -> None:
        """Forget what this process cached (another monitor may have led meanwhile): the next
        tick rereads the verdicts and re-checks every endpoint."""
        self._done = None
        self._scanned = False

    # ---- one pass ----------------------------------------------------------------------
    def tick(self, now: float | None = None) -> list[AlertEvent]:
        """Judge what closed since the last tick and apply the alert rules; the events."""
        t = self.clock() if now is None else now
        since = _utc(t - self.lookback_s)
        self.judged = 0
        touched = self.judge(t)
        endpoints = None if not self._scanned else touched
        self._scanned = True
        return self.alert(since, endpoints, t)

    def judge(self, now: float) -> set[str]:
        """Store a verdict for every closed window not judged yet (or grown since); the
        endpoints that got one."""
        since, cutoff = _utc(now - self.lookback_s), _utc(now - self.settle_s)
        groups: dict[tuple[str, int, dt.datetime], int] = defaultdict(int)
        for w in self.windows.windows(since=since, with_sketch=False):
            if w.end <= cutoff:
                groups[(w.endpoint, w.version_id, w.start)] += int(w.requests)
        if not groups:
            return set()
        if self._done is None:  # verdicts are read once; then this monitor keeps them current
            self._done = {
                (r.endpoint, r.version_id, r.start): int(r.requests)
                for r in self.windows.results(since=since)
            }
        else:
            for key in [k for k in self._done if k[2] < since]:
                del self._done[key]
        done = self._done
        touched: set[str] = set()
        self.judged = 0
        for key in sorted(groups, key=lambda k: (k[2], k[0], k[1])):
            if done.get(key) == groups[key]:
                continue
            endpoint, version_id, start = key
            try:
                self.judge_window(endpoint, version_id, start)
            except Exception:  # one bad window must not stop the others
                log.exception("judging %s v%s window %s failed", endpoint, version_id, start)
                continue
            done[key] = groups[key]
            touched.add(endpoint)
            self.judged += 1
        return touched

    def judge_window(self, endpoint: str, version_id: int, start: dt.datetime) -> dict[str, Any]:
        """Merge the replicas' sketches of one window, compare, store; the summary."""
        rows = [
            w
            for w in self.windows.windows(
                endpoint=endpoint,
                version_id=version_id,
                since=start,
                until=start + dt.timedelta(microseconds=1),
            )
            if w.start == start
        ]
        mv = self._version(version_id)
        baseline = self.baselines.get(mv)
        layout = None if baseline is None else baseline.layout
        sketch: WindowSketch | None = None
        for w in rows:
            s = WindowSketch.from_json(w.sketch, layout)
            sketch = s if sketch is None else sketch.merge(s)
        if sketch is None:
            raise ValueError(f"no windows stored for {endpoint} v{version_id} at {start}")
        end = max(w.end for w in rows)
        signals = traffic_signals(sketch.requests, sketch.errors, sketch.latency_counts)
        drift: dict[str, Any] | None = None
        note = "ok"
        if baseline is None:
            note = "no baseline (the version's training data is not recorded)"
        elif sketch.requests:
            try:
                result = compare_baseline(baseline, sketch, self.settings)
            except ValueError as exc:  # e.g. counted on another layout
                note = f"not compared: {exc}"
            else:
                signals.update(drift_signals(result))
                drift = compact(result)
        if self.quality is not None:
            try:
                q = self.quality(endpoint, version_id, start, end)
            except Exception:
                log.exception("quality of %s v%s window %s failed", endpoint, version_id, start)
            else:
                for k, v in q.items():
                    signals[k if k.startswith("quality.") else f"quality.{k}"] = float(v)
        summary: dict[str, Any] = _finite(
            {
                "format": SUMMARY_FORMAT,
                "version": mv.ref,
                "model": mv.model_name,
                "replicas": sorted(w.replica for w in rows),
                "errors": sketch.errors,
                "latency_counts": list(sketch.latency_counts),
                "baseline": note,
                "signals": signals,
                "drift": drift,
            }
        )
        self.windows.put_result(endpoint, version_id, start, end, sketch.requests, summary)
        return summary

    # ---- alert rules ---------------------------------------------------------------------
    def alert(
        self, since: dt.datetime, endpoints: Iterable[str] | None, now: float | None = None
    ) -> list[AlertEvent]:
        """Apply the rules to endpoint windows not counted yet (all endpoints with None); with
        a ``no_traffic`` rule, every endpoint seen in the lookback, and its gaps up to ``now``."""
        rules = self.config.alerts
        if not rules:
            return []
        last: dict[tuple[str, str], dt.datetime | None] = {
            (s.endpoint, s.rule): s.last_start for s in self.book.alerts.states()
        }
        gaps = now is not None and any(r.signal == NO_TRAFFIC for r in rules)
        if endpoints is None or gaps:  # an idle endpoint has no new verdict to be touched by
            seen = {r.endpoint for r in self.windows.results(since=since)}
            endpoints = sorted(seen | set(endpoints or ()))
        events: list[AlertEvent] = []
        for endpoint in sorted(endpoints):
            mine = [r for r in rules if not r.endpoints or endpoint in r.endpoints]
            if not mine:
                continue
            marks = [last.get((endpoint, r.name)) for r in mine]
            floor = since if any(m is None for m in marks) else max(since, min(marks))  # type: ignore[type-var]
            by_start: dict[dt.datetime, list[WindowVerdict]] = defaultdict(list)
            for r in self.windows.results(endpoint=endpoint, since=floor):
                by_start[r.start].append(r)
            views = {s: endpoint_view(endpoint, s, rows) for s, rows in by_start.items()}
            if gaps and now is not None:
                # on from the windows every rule counted, else from the first window seen
                first = floor if all(m is not None for m in marks) else min(by_start, default=None)
                for start in [] if first is None else self._slots(first, now):
                    views.setdefault(start, gap_view(endpoint, start))
            for start in sorted(views):
                view = views[start]
                for rule in mine:
                    mark = last.get((endpoint, rule.name))
                    if mark is not None and start <= mark:
                        continue
                    event = self._observe(rule, view)
                    last[(endpoint, rule.name)] = start
                    if event is not None:
                        events.append(event)
        return events

    def _slots(self, first: dt.datetime, now: float) -> list[dt.datetime]:
        """Starts of the ``window_s`` slots from ``first`` that closed and settled by ``now``."""
        width = self.config.window_s
        t0 = math.ceil(first.timestamp() / width) * width
        count = math.floor((now - self.settle_s) / width) - round(t0 / width)
        return [_utc(t0 + i * width) for i in range(max(count, 0))]

    def _observe(self, rule: AlertRule, view: EndpointView) -> AlertEvent | None:
        threshold: float | None
        context: dict[str, Any] = {"version": None, "versions": {}}
        if view.primary_version_id is None:  # a gap: counted by every rule, judged by no_traffic
            threshold = float(rule.threshold) if rule.signal == NO_TRAFFIC else None
        else:
            if rule.threshold == "sla":
                threshold = sla_threshold(rule, self.reg.config.model(view.model).sla)
            else:
                threshold = float(rule.threshold)
            primary = self._version(view.primary_version_id)
            context = {"version": primary.ref, "versions": view.versions}
        return self.book.observe(rule, view.endpoint, view.start, view.signals, threshold, context)

    def _version(self, version_id: int) -> ModelVersion:
        mv = self._versions.get(version_id)
        if mv is None:
            mv = self.reg.store.versions.by_id(version_id)
            self._versions[version_id] = mv
        return mv


# ---- pure helpers ------------------------------------------------------------------------
def endpoint_view(
    endpoint: str, start: dt.datetime, results: Sequence[WindowVerdict]
) -> EndpointView:
    """Traffic over all versions merged; everything else from the busiest version."""
    primary = max(results, key=lambda r: (int(r.requests), int(r.version_id)))
    requests = sum(int(r.requests) for r in results)
    errors = sum(int(r.summary.get("errors", 0)) for r in results)
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for r in results:
        for i, c in enumerate(r.summary.get("latency_counts") or []):
            counts[i] += int(c)
    signals = {
        k: float(v) for k, v in (primary.summary.get("signals") or {}).items() if v is not None
    }
    for k in ("requests", "error_rate", "latency.p50_ms", "latency.p99_ms"):
        signals.pop(k, None)
    signals.update(traffic_signals(requests, errors, counts))
    signals[NO_TRAFFIC] = 0.0 if requests else 1.0
    return EndpointView(
        endpoint=endpoint,
        start=start,
        signals=signals,
        primary_version_id=int(primary.version_id),
        model=str(primary.summary.get("model", "")),
        versions={str(r.summary.get("version", r.version_id)): int(r.requests)
                  for r in results},
    )  # fmt: skip


def gap_view(endpoint: str, start: dt.datetime) -> EndpointView:
    """A window slot in which the endpoint served nothing at all."""
    return EndpointView(endpoint, start, {"requests": 0.0, NO_TRAFFIC: 1.0}, None, "")


def traffic_signals(requests: int, errors: int, latency_counts: list[int]) -> dict[str, float]:
    out = {"requests": float(requests)}
    if requests:
        out["error_rate"] = errors / requests
    for name, q in (("latency.p50_ms", 0.5), ("latency.p99_ms", 0.99)):
        v = latency_quantile(latency_counts, q)
        if v is not None:
            out[name] = v
    return out


def latency_quantile(counts: list[int], q: float) -> float | None:
    """Upper bound of the bucket holding the q-quantile; the overflow bucket reports the last
    bound (a floor: "at least this")."""
    total = sum(counts)
    if not total:
        return None
    target, acc = q * total, 0
    for bound, c in zip((*LATENCY_BUCKETS_MS, LATENCY_BUCKETS_MS[-1]), counts, strict=False):
        acc += c
        if acc >= target:
            return float(bound)
    return float(LATENCY_BUCKETS_MS[-1])


def drift_signals(result: DriftResult) -> dict[str, float]:
    """The drift signal names rules read (``core.monitor_config``), from one comparison."""
    out: dict[str, float] = {}
    feats = result.features
    drifted = [f for f in feats if f.drifted]
    out["drift.count"] = float(len(drifted))
    out["drift.share"] = len(drifted) / len(feats) if feats else 0.0
    out["drift.critical_count"] = float(sum(1 for f in drifted if f.severity == "critical"))
    for f in feats:
        p = f"feature.{f.name}."
        out[p + "drifted"] = 1.0 if f.drifted else 0.0
        dist = next((s for s in f.signals if s.signal == "distribution"), None)
        if dist is not None:
            out[p + "effect"] = float(dist.effect)
        for test, name in (
            ("psi", "psi"),
            ("missingness", "missing_delta"),
            ("new_categories", "unseen_share"),
            ("vanished_categories", "vanished_share"),
            ("out_of_range", "out_of_range_share"),
            ("sentinel", "sentinel_share"),
        ):
            res = f.tests.get(test)
            if res is not None:
                out[p + name] = float(res.statistic)
    if result.prediction is not None:
        out["prediction.drifted"] = 1.0 if result.prediction.drifted else 0.0
        dist = next((s for s in result.prediction.signals if s.signal == "distribution"), None)
        if dist is not None:
            out["prediction.effect"] = float(dist.effect)
    if result.multivariate and result.multivariate.get("auc") is not None:
        out["multivariate.auc"] = float(result.multivariate["auc"])
    return {k: v for k, v in out.items() if math.isfinite(v)}


def compact(result: DriftResult) -> dict[str, Any]:
    """The drift result as stored with a verdict: everything but the settings echo."""
    data = result.to_dict()
    data.pop("settings", None)
    return data


def _finite(value: Any) -> Any:
    """JSON that every backend stores: numpy scalars become Python ones, non-finite floats
    become null."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)
