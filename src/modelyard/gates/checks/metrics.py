"""Metrics: thresholds on standard metrics, and non-inferiority against the champion."""

from __future__ import annotations

from modelyard.core.gate_policy import Bound, MetricsPolicy
from modelyard.gates import metrics as M
from modelyard.gates.base import CheckResult, Figure, at_least, at_most, clean, fmt, verdict
from modelyard.gates.context import GateContext


class MetricsCheck:
    name = "metrics"

    def __init__(self, config: MetricsPolicy | None = None) -> None:
        self.config = config or MetricsPolicy(thresholds={"accuracy": Bound(min=0.0)})

    def run(self, ctx: GateContext) -> CheckResult:
        cfg = self.config
        names = list(dict.fromkeys([*cfg.thresholds, *cfg.non_inferiority]))
        for name in names:
            M.check_task(name, ctx.task, "models.*.gates.metrics")
        cand = ctx.predict(ctx.candidate)
        champ = ctx.predict(ctx.champion) if ctx.champion else None
        values = {n: M.compute(n, ctx.y, cand) for n in names}
        champ_values = {n: M.compute(n, ctx.y, champ) for n in names} if champ else {}
        figures: list[Figure] = []
        for name, bound in cfg.thresholds.items():
            if bound.min is not None:
                figures.append(at_least(name, values[name], bound.min, champ_values.get(name)))
            if bound.max is not None:
                figures.append(at_most(name, values[name], bound.max, champ_values.get(name)))
        for name, margin in cfg.non_inferiority.items():
            label = f"{name} worsening vs champion"
            if ctx.champion is None:
                figures.append(
                    Figure(
                        name=label,
                        value=None,
                        limit=f"≤ {fmt(margin)}",
                        note="no champion yet: non-inferiority not judged",
                    )
                )
                continue
            worse = M.worsening(name, values[name], champ_values[name])
            figures.append(
                at_most(
                    label,
                    worse,
                    margin,
                    note=f"{fmt(clean(values[name]))} vs {fmt(clean(champ_values[name]))}",
                )
            )
        return verdict(
            self.name,
            figures,
            cfg.severity,
            passed_message=f"{len(names)} metric(s) within their limits",
            details={
                "candidate": {k: clean(v) for k, v in values.items()},
                "champion": {k: clean(v) for k, v in champ_values.items()},
                "rows": len(ctx.y),
            },
        )
