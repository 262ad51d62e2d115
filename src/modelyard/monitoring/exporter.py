"""The monitor's signals as Prometheus gauges, for alert rules exported by
``modelyard export prometheus-rules``.

``SignalCollector(reg)`` is a custom collector: on each scrape it reads the newest verdict per
(endpoint, version) from ``monitor_results`` and yields::

    modelyard_monitor_signal{endpoint, version, signal}      the signal's value
    modelyard_monitor_window_end_seconds{endpoint, version}  end of the judged window (staleness)

Cardinality is bounded: only a fixed core set of signals plus the signals the project's alert
rules name, and only versions judged within ``max_age_s``. A verdict's ``summary`` is read as
``summary["signals"]`` when that is a mapping, else the summary itself; nested mappings are
flattened with dots (``{"latency": {"p99_ms": 3}}`` → ``latency.p99_ms``), booleans count as
0/1 and non-numbers are skipped.

``serve_metrics(reg, port)`` serves it over HTTP (a daemon thread; ``/metrics``).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from modelyard.core.monitoring_records import WindowVerdict
from modelyard.registry.registry import Registry
from modelyard.store.windows import WindowStore

CORE_SIGNALS: frozenset[str] = frozenset(
    {
        "requests",
        "error_rate",
        "latency.p50_ms",
        "latency.p99_ms",
        "drift.share",
        "drift.count",
        "drift.critical_count",
        "prediction.drifted",
        "prediction.effect",
        "multivariate.auc",
    }
)


def flatten(summary: Mapping[str, Any]) -> dict[str, float]:
    """Signal name → value from a verdict summary (see the module docstring)."""
    inner = summary.get("signals")
    source = inner if isinstance(inner, Mapping) else summary
    out: dict[str, float] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, bool):
            out[prefix] = 1.0 if value else 0.0
        elif isinstance(value, (int, float)) and math.isfinite(float(value)):
            out[prefix] = float(value)

    walk("", source)
    return out


class SignalCollector(Collector):
    def __init__(
        self,
        reg: Registry,
        *,
        signals: frozenset[str] | None = None,
        max_age_s: float = 86_400.0,
    ) -> None:
        self.reg = reg
        named = {rule.signal for rule in reg.config.monitoring.alerts}
        self.signals = frozenset(CORE_SIGNALS | named) if signals is None else signals
        self.max_age_s = max_age_s
        self.windows = WindowStore(reg.store)
        self._refs: dict[int, str] = {}
        self._lock = threading.Lock()  # scrapes may overlap; the registry is not re-entrant

    def _ref(self, version_id: int) -> str:
        ref = self._refs.get(version_id)
        if ref is None:
            row = self.reg.store.versions.by_id(version_id)
            ref = self._refs[version_id] = f"{row.model_name}@{row.version}"
        return ref

    def latest(self) -> list[WindowVerdict]:
        """The newest verdict per (endpoint, version) judged within ``max_age_s``."""
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.max_age_s)
        newest: dict[tuple[str, int], WindowVerdict] = {}
        for row in self.windows.results(since=since):  # oldest first: later rows win
            newest[(row.endpoint, row.version_id)] = row
        return list(newest.values())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        value = GaugeMetricFamily(
            "modelyard_monitor_signal",
            "The monitor's latest value of a signal per endpoint and version.",
            labels=["endpoint", "version", "signal"],
        )
        ended = GaugeMetricFamily(
            "modelyard_monitor_window_end_seconds",
            "End (Unix time) of the latest judged window per endpoint and version.",
            labels=["endpoint", "version"],
        )
        with self._lock:
            for row in self.latest():
                ref = self._ref(int(row.version_id))
                for name, v in sorted(flatten(row.summary or {}).items()):
                    if name in self.signals:
                        value.add_metric([row.endpoint, ref, name], v)
                if "requests" in self.signals and "requests" not in flatten(row.summary or {}):
                    value.add_metric([row.endpoint, ref, "requests"], float(row.requests))
                end = row.end
                if end.tzinfo is None:
                    end = end.replace(tzinfo=dt.UTC)
                ended.add_metric([row.endpoint, ref], end.timestamp())
        yield value
        yield ended


def serve_metrics(
    reg: Registry, port: int, host: str = "127.0.0.1", collector: SignalCollector | None = None
) -> tuple[Any, threading.Thread]:
    """Serve the signal gauges on ``http://HOST:PORT/metrics`` from a daemon thread.

    Returns ``(server, thread)``; ``server.shutdown()`` stops it."""
    registry = CollectorRegistry()
    registry.register(collector or SignalCollector(reg))
    server, thread = start_http_server(port, addr=host, registry=registry)
    return server, thread
