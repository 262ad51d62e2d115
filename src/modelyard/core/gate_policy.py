"""The release-gate policy of a model: ``models.<name>.gates`` in the project file.

Declarative and strict: unknown keys, unknown metric names, malformed segment filters and
out-of-range limits are refused when the project file loads, with the key, the line and the
allowed values (see :func:`modelyard.core.project.parse_project`). A section that is present
turns its check on; a section that is absent leaves it off.

Example::

    models:
      arrests:
        train: train:fit              # module:function, for the reproducibility check
        gates:
          dataset: arrests-eval@1     # the evaluation dataset version
          positive_label: "Yes"
          metrics:
            thresholds: {roc_auc: {min: 0.70}, accuracy: {min: 0.80}}
            non_inferiority: {roc_auc: 0.005}
          segments:
            - {name: young, filter: "age < 25", metric: accuracy, min: 0.75, max_gap: 0.08}
          fairness: {demographic_parity_difference: 0.10, counterfactual_max_flip_rate: 0.02}
          calibration: {max_ece: 0.05}
"""

from __future__ import annotations

import difflib
import warnings
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelyard.core.filters import FilterSyntaxError, parse_filter

# Metric names the policy may use; implementations live in modelyard.gates.metrics (a test
# keeps the two in step). "higher is better" unless listed in LOWER_IS_BETTER.
CLASSIFICATION_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "average_precision",
    "log_loss",
    "brier",
    "selection_rate",
)
REGRESSION_METRICS = ("rmse", "mse", "mae", "r2", "mape")
METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mse", "mae", "mape"})

Corruption = Literal["missing", "noise", "out_of_range", "unseen_category", "wrong_type"]
CORRUPTIONS: tuple[str, ...] = get_args(Corruption)
CHECK_ORDER = (
    "schema",
    "metrics",
    "segments",
    "fairness",
    "calibration",
    "robustness",
    "kpi",
    "cost",
    "explain",
    "reproducibility",
    "load",
)

Severity = Literal["fail", "warn"]
# Sections whose presence turns a check on. They are annotated without ``| None`` so that a
# typo inside one is answered with that section's allowed keys; absent sections hold None.
SECTIONS = tuple(c for c in CHECK_ORDER if c != "segments")
_OFF: Any = None


def _suggest(value: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(value, list(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown metric {value!r}{hint}; allowed: {', '.join(allowed)}"


def check_metric(value: str) -> str:
    if value not in METRICS:
        raise ValueError(_suggest(value, METRICS))
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bound(_Strict):
    """A threshold: ``min`` and/or ``max`` on a figure."""

    min: float | None = Field(default=None, description="the figure must be at least this")
    max: float | None = Field(default=None, description="the figure must be at most this")

    @model_validator(mode="after")
    def _one_side(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both (e.g. {min: 0.7})")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class _Section(_Strict):
    severity: Severity = Field(default="fail", description="fail the gate, or only warn")


class MetricsPolicy(_Section):
    thresholds: dict[str, Bound] = Field(default_factory=dict, description="metric → bound")
    non_inferiority: dict[str, float] = Field(
        default_factory=dict,
        description="metric → largest allowed worsening against the champion (≥ 0)",
    )

    @field_validator("thresholds", "non_inferiority")
    @classmethod
    def _known(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            check_metric(key)
        return value

    @field_validator("non_inferiority")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        for key, margin in value.items():
            if margin < 0:
                raise ValueError(f"{key}: margin {margin} must be ≥ 0 (the allowed worsening)")
        return value


class SegmentPolicy(_Strict):
    name: str = Field(description="a label for the cohort, shown in reports")
    filter: str = Field(description='row filter, e.g. `age < 25` or `sex == "Female"`')
    metric: str = Field(default="accuracy", description="the metric judged on the segment")
    min: float | None = Field(default=None, description="the segment's own minimum")
    max_gap: float | None = Field(
        default=None, ge=0, description="largest allowed shortfall against the overall figure"
    )
    min_rows: int = Field(default=30, ge=1, description="fewer rows than this only warns")
    severity: Severity = "fail"

    _check_metric = field_validator("metric")(check_metric)

    @field_validator("filter")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            parse_filter(value)
        except FilterSyntaxError as exc:
            raise ValueError(str(exc)) from None
        return value


class FairnessPolicy(_Section):
    attributes: list[str] | None = Field(
        default=None, description="protected columns to judge (default: all in the schema)"
    )
    bins: dict[str, list[float]] = Field(
        default_factory=dict,
        description="cut points for numeric protected attributes (default: quartiles)",
    )
    demographic_parity_difference: float | None = Field(default=None, ge=0, le=1)
    equalized_odds_difference: float | None = Field(default=None, ge=0, le=1)
    metric: str = Field(default="accuracy", description="per-group metric for the ratio")
    min_metric_ratio: float | None = Field(
        default=None, ge=0, le=1, description="smallest group figure / largest group figure"
    )
    counterfactual_max_flip_rate: float | None = Field(
        default=None, ge=0, le=1, description="share of predictions allowed to change"
    )
    counterfactual_max_rows: int = Field(
        default=20_000, ge=100, description="seeded row sample for the counterfactual test"
    )
    min_group_rows: int = Field(
        default=30,
        ge=1,
        description="groups with fewer rows are shown but not judged (the check warns)",
    )

    _check_metric = field_validator("metric")(check_metric)


class CalibrationPolicy(_Section):
    bins: int = Field(default=10, ge=2, le=100, description="equal-width probability bins")
    max_ece: float | None = Field(default=None, ge=0, le=1)
    max_brier: float | None = Field(default=None, ge=0, le=1)


class RobustnessPolicy(_Section):
    metric: str = Field(default="accuracy", description="metric whose drop is bounded")
    max_drop: float = Field(default=0.05, ge=0, description="largest allowed drop")
    corruptions: list[Corruption] = Field(default_factory=lambda: list(get_args(Corruption)))
    rate: float = Field(default=0.1, gt=0, le=1, description="share of values corrupted")
    noise_scale: float = Field(default=0.5, gt=0, description="noise std / feature std")
    validate_inputs: bool = Field(
        default=True, description="reject rows the signature forbids, as the server does"
    )
    max_rows: int = Field(default=20_000, ge=100)
    seed: int = 0

    _check_metric = field_validator("metric")(check_metric)


class SchemaPolicy(_Section):
    allow_extra_columns: bool = True
    check_categories: bool = Field(default=True, description="unseen categories fail")


class ReproducibilityPolicy(_Section):
    metrics: list[str] = Field(default_factory=lambda: ["accuracy"])
    tolerance: float = Field(default=1e-6, ge=0, description="largest allowed |difference|")
    require_identical_digest: bool = False

    @field_validator("metrics")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for key in value:
            check_metric(key)
        return value


class LoadPolicy(_Section):
    concurrency: int = Field(default=8, ge=1, le=1024)
    requests: int = Field(default=2_000, ge=10)
    max_p50_ms: float | None = Field(default=None, gt=0)
    max_p99_ms: float | None = Field(default=None, gt=0, description="default: the SLA p99")
    min_throughput_rps: float | None = Field(default=None, gt=0)
    max_memory_mb: float | None = Field(default=None, gt=0)


class CostPolicy(_Section):
    max_regression_pct: float = Field(default=20.0, ge=0, description="vs the champion")
    max_cpu_ms_per_1k: float | None = Field(default=None, gt=0)
    max_artifact_mb: float | None = Field(default=None, gt=0)
    rows: int = Field(default=10_000, ge=100, description="rows per timed batch")
    repeats: int = Field(default=3, ge=1, le=50, description="best of N timings")


class KpiPolicy(_Section):
    matrix: dict[Literal["tp", "fp", "fn", "tn"], float] | None = Field(
        default=None, description="value of each outcome, per prediction"
    )
    function: str | None = Field(default=None, description="module:function(y, pred, proba)")
    min_per_1k: float | None = Field(default=None, description="least value per 1,000")
    max_drop_pct: float | None = Field(default=None, ge=0, description="vs the champion")

    @model_validator(mode="after")
    def _one_source(self) -> KpiPolicy:
        if (self.matrix is None) == (self.function is None):
            raise ValueError("give exactly one of matrix ({tp:…, fp:…, fn:…, tn:…}) or function")
        if self.function is not None and ":" not in self.function:
            raise ValueError(f"function {self.function!r} must be written module:function")
        return self


class ExplainPolicy(_Section):
    metric: str | None = Field(default=None, description="scoring metric (default: accuracy/r2)")
    n_repeats: int = Field(default=5, ge=1, le=100)
    max_rows: int = Field(default=2_000, ge=50)
    seed: int = 0

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        return None if value is None else check_metric(value)


with warnings.catch_warnings():
    # `schema` is the natural key in the YAML; it shadows BaseModel's deprecated .schema().
    warnings.filterwarnings("ignore", message='Field name "schema"')

    class GatePolicy(_Strict):
        """``models.<name>.gates``: the evaluation data and one section per check."""

        dataset: str | None = Field(default=None, description="evaluation dataset NAME@VERSION")
        endpoint: str | None = Field(
            default=None, description="endpoint whose production version is the champion"
        )
        positive_label: str | int | bool | None = Field(
            default=None, description="the positive class of the target"
        )
        threshold: float = Field(default=0.5, gt=0, lt=1, description="decision threshold")
        threads: int | None = Field(
            default=1,
            ge=1,
            description="BLAS/OpenMP threads while checks run (1: stable CPU timings; "
            "null: the libraries' default)",
        )
        metrics: MetricsPolicy = Field(default=_OFF)
        segments: list[SegmentPolicy] = Field(default_factory=list)
        fairness: FairnessPolicy = Field(default=_OFF)
        calibration: CalibrationPolicy = Field(default=_OFF)
        robustness: RobustnessPolicy = Field(default=_OFF)
        schema: SchemaPolicy = Field(default=_OFF)  # type: ignore[assignment]
        reproducibility: ReproducibilityPolicy = Field(default=_OFF)
        load: LoadPolicy = Field(default=_OFF)
        cost: CostPolicy = Field(default=_OFF)
        kpi: KpiPolicy = Field(default=_OFF)
        explain: ExplainPolicy = Field(default=_OFF)
        plugins: dict[str, dict[str, Any]] = Field(
            default_factory=dict, description="registered plug-in checks → their options"
        )

        @field_validator(*SECTIONS, mode="before")
        @classmethod
        def _empty_section_is_on(cls, value: Any) -> Any:
            # `calibration:` with nothing after it turns the check on with its defaults.
            return {} if value is None else value

        @field_validator("dataset")
        @classmethod
        def _ref(cls, value: str | None) -> str | None:
            if value is None:
                return None
            name, sep, version = value.partition("@")
            if not name or (sep and not version.lstrip("v").isdigit()):
                raise ValueError(f"{value!r} is not NAME@VERSION (e.g. arrests-eval@1)")
            return value

        @field_validator("segments")
        @classmethod
        def _unique(cls, value: list[SegmentPolicy]) -> list[SegmentPolicy]:
            seen: set[str] = set()
            for seg in value:
                if seg.name in seen:
                    raise ValueError(f"segment name {seg.name!r} is used twice")
                seen.add(seg.name)
            return value

        def enabled(self) -> list[str]:
            """Built-in checks this policy turns on, in run order, then plug-ins."""
            on = [
                name
                for name in CHECK_ORDER
                if (name == "segments" and self.segments)
                or (name != "segments" and getattr(self, name) is not None)
            ]
            return on + sorted(self.plugins)

        def section(self, name: str) -> Any:
            if name == "segments":
                return self.segments
            if name in CHECK_ORDER:
                return getattr(self, name)
            return self.plugins.get(name, {})
