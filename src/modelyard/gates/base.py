"""The one interface every gate check implements, and the result it returns.

A check is a small object: its constructor only stores its policy section (no work, no I/O),
``name`` identifies it, and ``run(ctx)`` judges one model version on the evaluation data in a
:class:`~modelyard.gates.context.GateContext` and returns a :class:`CheckResult`. Built-in checks
and plug-ins are looked up the same way (see :mod:`modelyard.gates.plugins`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from modelyard.gates.context import GateContext

Status = Literal["pass", "fail", "warn", "skipped", "error"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "warn", "skipped", "error")
FAILING: frozenset[str] = frozenset({"fail", "error"})


class Figure(BaseModel):
    """One measured figure, its limit and (when there is one) the champion's figure."""

    model_config = ConfigDict(extra="forbid")

    name: str
    value: float | None = Field(description="the candidate's figure (None: not computable)")
    champion: float | None = Field(default=None, description="the champion's figure")
    limit: str | None = Field(default=None, description="human-readable limit, e.g. '≥ 0.7'")
    ok: bool | None = Field(default=None, description="None: informative, not judged")
    note: str | None = None


class CheckResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    status: Status
    message: str
    figures: list[Figure] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    artifacts: dict[str, str] = Field(default_factory=dict, description="label → digest")
    duration_s: float = 0.0
    charts: list[str] = Field(default_factory=list, exclude=True, description="inline SVG")

    @property
    def failed(self) -> bool:
        return self.status in FAILING


@runtime_checkable
class Check(Protocol):
    """A release-gate check. ``__init__`` stores the policy section; ``run`` does the work."""

    name: str

    def run(self, ctx: GateContext) -> CheckResult: ...


# ---- helpers every check uses to judge figures the same way ---------------------------------
def clean(value: Any) -> float | None:
    """A float for JSON, or None for NaN / infinity / missing."""
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def at_least(
    name: str, value: Any, limit: float | None, champion: Any = None, note: str | None = None
) -> Figure:
    v = clean(value)
    ok = None if limit is None else (v is not None and v >= limit)
    return Figure(
        name=name,
        value=v,
        champion=clean(champion),
        limit=None if limit is None else f"≥ {fmt(limit)}",
        ok=ok,
        note=note,
    )


def at_most(
    name: str, value: Any, limit: float | None, champion: Any = None, note: str | None = None
) -> Figure:
    v = clean(value)
    ok = None if limit is None else (v is not None and v <= limit)
    return Figure(
        name=name,
        value=v,
        champion=clean(champion),
        limit=None if limit is None else f"≤ {fmt(limit)}",
        ok=ok,
        note=note,
    )


def verdict(
    name: str,
    figures: Iterable[Figure],
    severity: str = "fail",
    *,
    passed_message: str = "all figures within their limits",
    details: dict[str, Any] | None = None,
    charts: list[str] | None = None,
    artifacts: dict[str, str] | None = None,
) -> CheckResult:
    """Judge a list of figures: any ``ok is False`` fails (or warns, by severity)."""
    figs = list(figures)
    bad = [f for f in figs if f.ok is False]
    if bad:
        status: Status = "warn" if severity == "warn" else "fail"
        message = "; ".join(
            f"{f.name} {fmt(f.value)} (limit {f.limit}){' — ' + f.note if f.note else ''}"
            for f in bad
        )
    else:
        status, message = "pass", passed_message
    return CheckResult(
        name=name,
        status=status,
        message=message,
        figures=figs,
        details=details or {},
        charts=charts or [],
        artifacts=artifacts or {},
    )


def skipped(name: str, why: str, **details: Any) -> CheckResult:
    return CheckResult(name=name, status="skipped", message=why, details=details)
