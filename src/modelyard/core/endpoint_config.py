"""Endpoint configuration: how one endpoint routes, batches, caches and throttles.

Declared under ``endpoints:`` in ``modelyard.yaml`` and validated once at the boundary (strict,
unknown keys rejected). Which versions serve an endpoint is not configuration: that is the
deployment plan in the store (``modelyard deploy``). This file holds the rules applied on top.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchingConfig(_Strict):
    enabled: bool = Field(default=True, description="merge requests that queue together")
    max_batch_rows: int = Field(default=256, ge=1, le=65_536, description="rows per model call")
    max_wait_ms: float = Field(
        default=0.0,
        ge=0,
        le=1_000,
        description="extra wait for more rows, only while the previous batch was shared "
        "(a lone request on an idle server never waits)",
    )


class CacheConfig(_Strict):
    enabled: bool = Field(default=False, description="cache predictions of hot inputs")
    max_entries: int = Field(default=10_000, ge=1, description="bound on cached predictions")
    ttl_s: float = Field(default=60.0, gt=0, description="seconds a cached prediction lives")


class PerTokenThrottle(_Strict):
    """Limits for each caller, keyed by its bearer token (hashed; never kept in clear).

    Requests without an ``Authorization`` header share one anonymous bucket.
    """

    max_concurrency: int | None = Field(
        default=None, ge=1, description="in-flight requests allowed per token; beyond → 429"
    )
    rate_per_s: float | None = Field(
        default=None, gt=0, description="sustained requests per second per token; beyond → 429"
    )
    burst: int | None = Field(
        default=None, ge=1, description="token-bucket size per token (default: one second)"
    )
    max_tokens: int = Field(
        default=10_000,
        ge=1,
        description="callers tracked at most; the least recently seen is forgotten first",
    )

    @model_validator(mode="after")
    def _some_limit(self) -> PerTokenThrottle:
        if self.max_concurrency is None and self.rate_per_s is None:
            raise ValueError("per_token needs 'rate_per_s' or 'max_concurrency' (or both)")
        return self


class ThrottleConfig(_Strict):
    max_concurrency: int | None = Field(
        default=None, ge=1, description="in-flight requests allowed; beyond → 429"
    )
    rate_per_s: float | None = Field(
        default=None, gt=0, description="sustained requests per second; beyond → 429"
    )
    burst: int | None = Field(
        default=None, ge=1, description="token-bucket size (default: one second of rate)"
    )
    per_token: PerTokenThrottle | None = Field(
        default=None, description="limits per caller token, applied before the endpoint's"
    )


class SegmentRule(_Strict):
    """Send matching requests to one model version. Exactly one of header / feature."""

    header: str | None = Field(default=None, description="request header to read")
    feature: str | None = Field(default=None, description="input feature to read (first row)")
    equals: str | float | int | bool | None = Field(default=None, description="value to match")
    one_of: tuple[str | float | int | bool, ...] | None = Field(default=None)
    model: str = Field(description="MODEL@VERSION that answers matching requests")

    @model_validator(mode="after")
    def _one_source(self) -> SegmentRule:
        if (self.header is None) == (self.feature is None):
            raise ValueError("a segment rule reads exactly one of 'header' or 'feature'")
        if self.equals is None and not self.one_of:
            raise ValueError("a segment rule needs 'equals' or 'one_of'")
        return self


class ShadowConfig(_Strict):
    sample: float = Field(default=1.0, ge=0, le=1, description="share of requests mirrored")
    max_pending: int = Field(
        default=1_000, ge=1, description="mirrored requests queued at most; beyond are dropped"
    )


class PredictionLogConfig(_Strict):
    enabled: bool = Field(default=True, description="log id, version, latency and output")
    input_sample: float = Field(
        default=0.1, ge=0, le=1, description="share of requests whose input is also logged"
    )
    pii: Literal["hash", "drop"] = Field(
        default="hash", description="what happens to fields tagged pii in the signature"
    )
    flush_every_s: float = Field(default=1.0, gt=0, description="background flush interval")
    format: Literal["jsonl", "parquet"] = Field(
        default="jsonl",
        description="jsonl: files per endpoint/day/process in the project; parquet: "
        "Hive-partitioned files (endpoint/date/hour) at MODELYARD_PREDICTION_LOG_URL",
    )
    durability: Literal["buffered", "acknowledged"] = Field(
        default="buffered",
        description="buffered: written every flush_every_s (a killed server loses up to that "
        "much); acknowledged: written and fsync'd before the answer is sent (jsonl only)",
    )

    @model_validator(mode="after")
    def _acknowledged_needs_jsonl(self) -> PredictionLogConfig:
        if self.durability == "acknowledged" and self.format != "jsonl":
            raise ValueError(
                "durability 'acknowledged' writes JSON lines before answering: "
                "use format: jsonl (Parquet files are written whole, per flush)"
            )
        return self


class EndpointConfig(_Strict):
    latency_budget_ms: float | None = Field(
        default=None, gt=0, description="beyond this the fallback answers (needs a fallback)"
    )
    fallback: str | None = Field(
        default=None,
        description="MODEL@VERSION answering when the primary errors or exceeds the budget "
        "(a route with role 'fallback' in the store takes precedence)",
    )
    sticky_header: str | None = Field(
        default=None, description="header whose value pins a caller to one variant"
    )
    segments: tuple[SegmentRule, ...] = Field(default=(), description="first match wins")
    shadow: ShadowConfig = Field(default_factory=ShadowConfig)
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    throttle: ThrottleConfig = Field(default_factory=ThrottleConfig)
    prediction_log: PredictionLogConfig = Field(default_factory=PredictionLogConfig)
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="larger request bodies → 413"
    )
    max_rows: int = Field(default=10_000, ge=1, description="rows per request at most → 413")
