"""Prometheus metrics of one server process, in its own registry (no global state).

Labelled children are resolved once per label set and kept, so the hot path costs a dict
lookup plus an increment and an observation.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
)  # fmt: skip
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServingMetrics:
    def __init__(self) -> None:
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

    def render(self) -> bytes:
        return generate_latest(self.registry)
