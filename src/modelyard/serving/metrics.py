"""Prometheus metrics of one server process, in its own registry (no global state).

Labelled children are resolved once per label set and kept, so the hot path costs a dict
lookup plus an increment and an observation.

Across workers (``modelyard serve --workers N``): the parent creates one temporary folder per
server (``shared_metrics_dir``), hands it to the workers as ``PROMETHEUS_MULTIPROC_DIR``
(prometheus-client's multiprocess mode: each worker's counters live in memory-mapped files
there) and deletes it at exit. ``/metrics``, whichever worker answers it, then aggregates every
worker's files: counters and histograms are summed, the plan-generation gauge is the maximum.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger("modelyard.serving")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
)  # fmt: skip
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


@contextlib.contextmanager
def shared_metrics_dir() -> Iterator[str]:
    """A fresh folder for the workers' metric files, exported to the worker processes
    (set before they start: prometheus-client chooses its mode at import), removed at exit."""
    path = tempfile.mkdtemp(prefix="modelyard-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(path, ignore_errors=True)


def _multiprocess_active() -> bool:
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue


class ServingMetrics:
    def __init__(self, multiprocess_dir: str | None = None) -> None:
        if multiprocess_dir is not None and not _multiprocess_active():
            log.warning(
                "metrics: %s was not set when prometheus-client was imported; "
                "each worker reports only its own counters",
                MULTIPROC_ENV,
            )
            multiprocess_dir = None
        self.multiprocess_dir = multiprocess_dir
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelyard_requests",
            "Inference requests answered, by endpoint, version, protocol and HTTP status.",
            ["endpoint", "version", "protocol", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "modelyard_request_duration_seconds",
            "Server-side time from request start to answer, by endpoint and version.",
            ["endpoint", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "modelyard_batch_rows",
            "Rows per model call (adaptive batching).",
            ["endpoint", "version"],
            buckets=ROW_BUCKETS,
            registry=r,
        )
        self.batch_requests = Histogram(
            "modelyard_batch_requests",
            "Requests merged per model call.",
            ["endpoint", "version"],
            buckets=ROW_BUCKETS,
            registry=r,
        )
        self.cache = Counter(
            "modelyard_cache_lookups",
            "Prediction-cache lookups.",
            ["endpoint", "result"],
            registry=r,
        )
        self.fallbacks = Counter(
            "modelyard_fallbacks",
            "Answers given by the fallback version.",
            ["endpoint", "reason"],
            registry=r,
        )
        self.shadow = Counter(
            "modelyard_shadow_predictions",
            "Mirrored predictions on shadow versions, by outcome.",
            ["endpoint", "version", "result"],
            registry=r,
        )
        self.throttled = Counter(
            "modelyard_throttled", "Requests refused with 429.", ["endpoint"], registry=r
        )
        self.plan_generation = Gauge(
            "modelyard_plan_generation",
            "Deployment-plan generation served, per endpoint.",
            ["endpoint"],
            registry=r,
            multiprocess_mode="max",
        )
        self.load_failures = Counter(
            "modelyard_version_load_failures",
            "Attempts to load a model version that failed (corrupt artifact, missing package…).",
            ["version"],
            registry=r,
        )
        self.auth_refused = Counter(
            "modelyard_auth_refused",
            "Requests refused for their credentials: 401 (none, malformed, unknown, revoked or "
            "expired token) or 403 (the role lacks the permission).",
            ["status"],
            registry=r,
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request(
        self, endpoint: str, version: str, protocol: str, status: int, seconds: float
    ) -> None:
        self._child(self.requests, endpoint, version, protocol, str(status)).inc()
        if status < 400:
            self._child(self.latency, endpoint, version).observe(seconds)

    def batch(self, endpoint: str, version: str, requests: int, rows: int) -> None:
        self._child(self.batch_requests, endpoint, version).observe(requests)
        self._child(self.batch_rows, endpoint, version).observe(rows)

    def cache_lookup(self, endpoint: str, hit: bool) -> None:
        self._child(self.cache, endpoint, "hit" if hit else "miss").inc()

    def fallback(self, endpoint: str, reason: str) -> None:
        self._child(self.fallbacks, endpoint, reason).inc()

    def shadow_result(self, endpoint: str, version: str, result: str) -> None:
        self._child(self.shadow, endpoint, version, result).inc()

    def throttle(self, endpoint: str) -> None:
        self._child(self.throttled, endpoint).inc()

    def auth_refusal(self, status: int) -> None:
        self._child(self.auth_refused, str(status)).inc()

    def load_failure(self, version: str) -> None:
        self._child(self.load_failures, version).inc()

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=self.multiprocess_dir)
        return generate_latest(merged)
