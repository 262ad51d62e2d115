"""Live signals per model version, read from the servers' Prometheus ``/metrics`` (summed over
every replica), as Flagger reads Prometheus: request and 5xx counters and the latency histogram."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

REQUESTS = "modelyard_requests"
LATENCY = "modelyard_request_duration_seconds"


@dataclass
class VersionCounts:
    requests: float = 0.0
    errors: float = 0.0  # 5xx answers
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count

    def minus(self, earlier: VersionCounts) -> VersionCounts:
        return VersionCounts(
            self.requests - earlier.requests,
            self.errors - earlier.errors,
            {le: c - earlier.buckets.get(le, 0.0) for le, c in self.buckets.items()},
        )

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None

    def quantile_ms(self, q: float) -> float | None:
        """Linear interpolation inside the histogram bucket, as PromQL's histogram_quantile."""
        finite = sorted((le, c) for le, c in self.buckets.items() if le != float("inf"))
        total = self.buckets.get(float("inf"), finite[-1][1] if finite else 0.0)
        if total <= 0:
            return None
        rank = q * total
        prev_le, prev_c = 0.0, 0.0
        for le, c in finite:
            if c >= rank:
                width = c - prev_c
                frac = (rank - prev_c) / width if width > 0 else 1.0
                return (prev_le + (le - prev_le) * frac) * 1000
            prev_le, prev_c = le, c
        return prev_le * 1000


Snapshot = dict[str, VersionCounts]  # version ref -> counts


class SignalSource(Protocol):
    def snapshot(self, endpoint: str) -> Snapshot: ...


def parse_metrics(text: str, endpoint: str, into: Snapshot | None = None) -> Snapshot:
    from prometheus_client.parser import text_string_to_metric_families

    out: Snapshot = {} if into is None else into
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("endpoint") != endpoint or "version" not in s.labels:
                continue
            counts = out.setdefault(s.labels["version"], VersionCounts())
            if s.name == f"{REQUESTS}_total":
                counts.requests += s.value
                if s.labels.get("status", "").startswith("5"):
                    counts.errors += s.value
            elif s.name == f"{LATENCY}_bucket":
                le = float(s.labels["le"])
                counts.buckets[le] = counts.buckets.get(le, 0.0) + s.value
    return out


class PrometheusScrape:
    """Scrape ``/metrics`` of each server replica and sum them. ``token``: an API token (any
    role: /metrics needs 'read') for servers whose ``serving.metrics_auth`` is token."""

    def __init__(
        self, urls: Sequence[str], timeout_s: float = 15.0, token: str | None = None
    ) -> None:
        self.urls = list(urls)
        self.timeout_s = timeout_s
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def snapshot(self, endpoint: str) -> Snapshot:
        import httpx

        from modelyard.core.errors import ModelyardError

        out: Snapshot = {}
        for url in self.urls:
            try:
                r = httpx.get(url, timeout=self.timeout_s, headers=self.headers)
                r.raise_for_status()
            except httpx.HTTPError as exc:
                raise ModelyardError(f"cannot scrape {url}: {exc}") from None
            parse_metrics(r.text, endpoint, out)
        return out


def to_json(snap: Snapshot) -> dict[str, dict[str, object]]:
    return {
        v: {
            "requests": c.requests,
            "errors": c.errors,
            "buckets": {repr(le): n for le, n in c.buckets.items()},
        }
        for v, c in snap.items()
    }


def from_json(data: dict[str, dict[str, object]]) -> Snapshot:
    out: Snapshot = {}
    for v, c in data.items():
        buckets = c.get("buckets") or {}
        assert isinstance(buckets, dict)
        out[v] = VersionCounts(
            float(c["requests"]),  # type: ignore[arg-type]
            float(c["errors"]),  # type: ignore[arg-type]
            {float(k): float(n) for k, n in buckets.items()},
        )
    return out
