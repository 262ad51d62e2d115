"""Monitoring and playbook configuration: the ``monitoring:`` and ``playbooks:`` sections of
``modelyard.yaml``, validated once at the boundary (strict, unknown keys rejected).

Signals an alert rule can read (the monitor computes them per merged window of an endpoint):

- ``requests``, ``error_rate`` (0-1), ``latency.p50_ms``, ``latency.p99_ms``
- ``no_traffic``: 1 for a window in which an endpoint that served within the lookback got no
  request at all (a gap), 0 for a window with traffic; judged whatever ``min_requests`` says
- ``drift.share`` (share of features drifted), ``drift.count``, ``drift.critical_count``
- ``feature.NAME.drifted`` (0/1), ``feature.NAME.effect``, ``feature.NAME.psi``,
  ``feature.NAME.missing_delta`` (change of missing share), ``feature.NAME.unseen_share``,
  ``feature.NAME.vanished_share``, ``feature.NAME.out_of_range_share``,
  ``feature.NAME.sentinel_share``
- ``prediction.drifted`` (0/1), ``prediction.effect``, ``multivariate.auc``
- ``quality.accuracy``, ``quality.auc``, ``quality.f1``, ``quality.rmse``, ``quality.mae``,
  ``quality.ece`` (calibration error), ``quality.labels`` (labels joined in the window),
  ``quality.kpi``; per protected group, any of these + ``.COL=VALUE``
  (``quality.accuracy.sex=Male``)

A threshold is a number, or ``sla`` for the model's SLA figure that matches the signal
(``latency.p99_ms`` → ``sla.latency_p99_ms``; ``error_rate`` → ``1 - sla.availability``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelyard.core.webhooks import WebhookRefused, split_target

Tier = Literal["warning", "critical", "emergency"]
TIERS: tuple[str, ...] = ("warning", "critical", "emergency")  # in rising order

NO_TRAFFIC = "no_traffic"  # the gap signal: judged on windows without a single request
_SIGNAL = re.compile(
    r"^(requests|no_traffic|error_rate|latency\.(p50_ms|p99_ms)"
    r"|drift\.(share|count|critical_count)"
    r"|feature\.[^.\s]+\.(drifted|effect|psi|missing_delta|unseen_share"
    r"|vanished_share|out_of_range_share|sentinel_share)"
    r"|prediction\.(drifted|effect)|multivariate\.auc"
    r"|quality\.(accuracy|auc|f1|rmse|mae|ece|labels|kpi)(\.[^.\s=]+=[^\s]+)?)$"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertRule(_Strict):
    name: str = Field(description="rule name, unique in the project (shown on alerts)")
    signal: str = Field(description="what is measured, e.g. feature.income.psi or error_rate")
    op: Literal[">", ">=", "<", "<="] = Field(default=">", description="breach comparison")
    threshold: float | Literal["sla"] = Field(description="a number, or 'sla' (see above)")
    tier: Tier = Field(default="warning", description="warning, critical or emergency")
    sustain: int = Field(default=1, ge=1, description="consecutive breaching windows to fire")
    recover: int = Field(default=2, ge=1, description="consecutive clear windows to resolve")
    min_requests: int = Field(
        default=30, ge=0, description="windows with fewer requests are not judged"
    )
    endpoints: tuple[str, ...] = Field(default=(), description="endpoints it applies to (all)")

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        if not _SIGNAL.match(value):
            raise ValueError(
                f"unknown signal {value!r}; expected one of requests, no_traffic, error_rate, "
                "latency.p50_ms, latency.p99_ms, drift.share|count|critical_count, "
                "feature.NAME.drifted|effect|psi|missing_delta|unseen_share|"
                "vanished_share|out_of_range_share|sentinel_share, "
                "prediction.drifted|effect, multivariate.auc, "
                "quality.accuracy|auc|f1|rmse|mae|ece|labels|kpi[.COLUMN=VALUE]"
            )
        return value

    @model_validator(mode="after")
    def _sla_only_where_defined(self) -> AlertRule:
        if self.threshold == "sla" and self.signal not in ("latency.p99_ms", "error_rate"):
            raise ValueError("threshold 'sla' applies to latency.p99_ms and error_rate only")
        return self


class SinkConfig(_Strict):
    kind: Literal["log", "webhook"] = Field(description="structured log line, or an HTTP POST")
    url: str | None = Field(default=None, description="webhook URL (http:// or https://)")
    retries: int = Field(default=3, ge=0, le=20, description="retries before the dead letter")
    timeout_s: float = Field(default=5.0, gt=0, description="per attempt")
    min_tier: Tier = Field(default="warning", description="lowest tier sent to this sink")

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> SinkConfig:
        if self.kind == "webhook":
            try:
                split_target(self.url or "")
            except WebhookRefused as exc:
                raise ValueError(f"a webhook sink needs url: http(s)://HOST/...; {exc}") from None
        return self


class ReviewConfig(_Strict):
    confidence_below: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="queue predictions whose top class probability is below this",
    )
    sample: float = Field(default=0.0, ge=0, le=1, description="share of predictions queued")
    max_pending: int = Field(default=10_000, ge=1, description="queue bound per endpoint")


class MonitoringConfig(_Strict):
    enabled: bool = Field(default=True, description="feed live windows from served traffic")
    window_s: float = Field(default=60.0, gt=0, description="live window width in seconds")
    grace_s: float = Field(default=5.0, ge=0, description="wait after a window ends")
    sample_size: int = Field(
        default=256, ge=0, description="rows kept per window (multivariate drift)"
    )
    interval_s: float = Field(default=10.0, gt=0, description="`monitor run` loop period")
    lookback_s: float = Field(
        default=86_400.0,
        gt=0,
        description="`monitor run` judges and alerts on windows that started within this many "
        "seconds",
    )
    drift: dict[str, Any] = Field(
        default_factory=dict,
        description="drift settings: alpha, numeric/categorical policy, per-feature overrides "
        "(see docs/monitoring.md)",
    )
    alerts: tuple[AlertRule, ...] = Field(default=(), description="tiered alert rules")
    sinks: tuple[SinkConfig, ...] = Field(
        default=(SinkConfig(kind="log"),), description="where alert events go"
    )
    review: ReviewConfig = Field(default_factory=ReviewConfig)

    @model_validator(mode="after")
    def _unique_rules(self) -> MonitoringConfig:
        seen: set[str] = set()
        for rule in self.alerts:
            if rule.name in seen:
                raise ValueError(f"alert rule name {rule.name!r} is used twice")
            seen.add(rule.name)
        return self


class PlaybookAction(_Strict):
    do: Literal["rollback", "shift", "throttle", "retrain", "notify"] = Field(
        description="what to do"
    )
    to: str | None = Field(default=None, description="shift: MODEL@VERSION that takes traffic")
    rate_per_s: float | None = Field(default=None, gt=0, description="throttle: requests/s")
    max_concurrency: int | None = Field(default=None, ge=1, description="throttle: in flight")
    model: str | None = Field(default=None, description="retrain: model (default: champion's)")
    dataset: str | None = Field(default=None, description="retrain: dataset (newest version)")
    sink: str | None = Field(default=None, description="notify: webhook URL (default: sinks)")

    @model_validator(mode="after")
    def _arguments(self) -> PlaybookAction:
        if self.sink is not None:
            try:
                split_target(self.sink)
            except WebhookRefused as exc:
                raise ValueError(f"notify sink: {exc.message}") from None
        if self.do == "shift" and not self.to:
            raise ValueError("a shift action needs to: MODEL@VERSION")
        if self.do == "throttle" and self.rate_per_s is None and self.max_concurrency is None:
            raise ValueError("a throttle action needs rate_per_s or max_concurrency")
        return self


class PlaybookWhen(_Strict):
    rules: tuple[str, ...] = Field(default=(), description="alert rule names that trigger it")
    min_tier: Tier | None = Field(default=None, description="or: any alert at/above this tier")
    new_data: bool = Field(
        default=False,
        description="continuous training: run when a dataset the endpoint's champion was "
        "trained on has a newer version (checked by `monitor run`)",
    )
    every_s: float | None = Field(
        default=None,
        gt=0,
        description="continuous training: run on a schedule, every this many seconds per endpoint",
    )

    @model_validator(mode="after")
    def _something(self) -> PlaybookWhen:
        if not self.rules and self.min_tier is None and not self.new_data and not self.every_s:
            raise ValueError("a playbook's when needs rules, min_tier, new_data or every_s")
        return self


class PlaybookConfig(_Strict):
    when: PlaybookWhen
    actions: tuple[PlaybookAction, ...] = Field(min_length=1)
    endpoints: tuple[str, ...] = Field(default=(), description="endpoints it covers (all)")
    dry_run: bool = Field(default=False, description="record what would be done, do nothing")
    cooldown_s: float = Field(default=600.0, ge=0, description="quiet time between runs")


def tier_rank(tier: str) -> int:
    return TIERS.index(tier)
