"""Progressive-delivery policy (``models.<name>.rollout`` in the project file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Strategy = Literal["direct", "blue-green", "canary", "shadow"]
STRATEGIES: tuple[str, ...] = ("direct", "blue-green", "canary", "shadow")


class RolloutPolicy(BaseModel):
    """How a model's versions reach traffic: the delivery strategy; for canaries the steps and
    the analysis that decides at each one (promote, hold or roll back, as in Flagger / Argo
    Rollouts); and when a serving version is proposed for retirement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Strategy = Field(
        default="direct",
        description="direct, blue-green (old champion kept warm as standby), canary "
        "(steps with analysis) or shadow (mirror); `deploy --strategy` wins",
    )
    shadow_sample: float = Field(
        default=1.0, gt=0, le=1, description="share of requests mirrored to a shadow version"
    )
    require_gate_report: bool = Field(
        default=False,
        description="deploy and servers refuse a version whose latest gate report is missing "
        "or failed (a failed latest report is refused always)",
    )
    retire_after_idle_days: float = Field(
        default=30.0, gt=0, description="no traffic for this long → retirement proposed"
    )
    retire_after_drift_days: float = Field(
        default=14.0, gt=0, description="a drift alert firing this long → retirement proposed"
    )
    kpi_target: float | None = Field(
        default=None, description="latest live quality.kpi below this → retirement proposed"
    )

    steps: tuple[float, ...] = Field(
        default=(0.05, 0.25, 0.5, 1.0), description="canary traffic share per step; last is 1.0"
    )
    interval_s: float = Field(default=60.0, gt=0, description="seconds of traffic per step")
    min_requests: int = Field(
        default=50, ge=1, description="canary requests a step needs before it is judged"
    )
    max_error_rate: float = Field(
        default=0.01, ge=0, le=1, description="canary 5xx share allowed (absolute)"
    )
    max_error_rate_increase: float = Field(
        default=0.005, ge=0, le=1, description="canary error rate above the champion's allowed"
    )
    max_p99_ratio: float = Field(
        default=1.5, gt=0, description="canary p99 latency / champion p99 latency allowed"
    )
    p99_slack_ms: float = Field(
        default=5.0,
        ge=0,
        description="a canary p99 within this many ms of the champion's never fails the ratio "
        "test (sub-millisecond latencies differ by whole histogram buckets)",
    )
    max_p99_ms: float | None = Field(default=None, gt=0, description="absolute p99 limit (ms)")
    failure_limit: int = Field(
        default=2, ge=1, description="failed analyses before rolling back by itself"
    )

    @field_validator("steps")
    @classmethod
    def _increasing_to_one(cls, steps: tuple[float, ...]) -> tuple[float, ...]:
        if not steps or any(not 0 < s <= 1 for s in steps):
            raise ValueError("steps must be traffic shares in (0, 1]")
        if list(steps) != sorted(set(steps)) or steps[-1] != 1.0:
            raise ValueError("steps must increase strictly and end at 1.0 (full promotion)")
        return steps
