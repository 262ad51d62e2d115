"""Cohorts: each segment (a row filter) meets its own minimum and stays close to the overall."""

from __future__ import annotations

import difflib
from typing import Any

from modelyard.core.errors import ConfigError
from modelyard.core.filters import parse_filter
from modelyard.core.gate_policy import SegmentPolicy
from modelyard.gates import metrics as M
from modelyard.gates.base import CheckResult, Figure, at_least, at_most, clean, verdict
from modelyard.gates.context import GateContext


class SegmentsCheck:
    name = "segments"

    def __init__(self, config: list[SegmentPolicy] | None = None) -> None:
        self.config = list(config or [])

    def run(self, ctx: GateContext) -> CheckResult:
        cand = ctx.predict(ctx.candidate)
        champ = ctx.predict(ctx.champion) if ctx.champion else None
        figures: list[Figure] = []
        rows: list[dict[str, Any]] = []
        thin: list[str] = []
        overall: dict[str, float] = {}
        for i, seg in enumerate(self.config):
            where = f"models.*.gates.segments[{i}] ({seg.name})"
            M.check_task(seg.metric, ctx.task, where)
            flt = parse_filter(seg.filter)
            unknown = sorted(flt.columns - {str(c) for c in ctx.frame.columns})
            if unknown:
                cols = [str(c) for c in ctx.frame.columns]
                close = difflib.get_close_matches(unknown[0], cols, n=1)
                raise ConfigError(
                    f"{where}.filter {seg.filter!r} names unknown column(s) {', '.join(unknown)}"
                    + (f" (did you mean {close[0]!r}?)" if close else ""),
                    hint=f"columns of the evaluation data: {', '.join(cols)}",
                )
            mask = flt.mask(ctx.frame)
            n = int(mask.sum())
            if seg.metric not in overall:
                overall[seg.metric] = M.compute(seg.metric, ctx.y, cand)
            value = M.compute(seg.metric, ctx.y[mask], cand.take(mask))
            champ_value = M.compute(seg.metric, ctx.y[mask], champ.take(mask)) if champ else None
            gap = M.worsening(seg.metric, value, overall[seg.metric])
            judged = n >= seg.min_rows
            note = None if judged else f"only {n} rows (< min_rows {seg.min_rows}): not judged"
            if not judged:
                thin.append(seg.name)
            label = f"{seg.name}: {seg.metric}"
            lim_min = seg.min if judged else None
            if M.higher_is_better(seg.metric):
                figures.append(at_least(label, value, lim_min, champ_value, note))
            else:
                figures.append(at_most(label, value, lim_min, champ_value, note))
            if seg.max_gap is not None:
                figures.append(
                    at_most(
                        f"{seg.name}: gap to overall",
                        gap,
                        seg.max_gap if judged else None,
                        note=note,
                    )
                )
            rows.append(
                {
                    "segment": seg.name,
                    "filter": seg.filter,
                    "rows": n,
                    "metric": seg.metric,
                    "value": clean(value),
                    "champion": clean(champ_value),
                    "overall": clean(overall[seg.metric]),
                    "gap": clean(gap),
                }
            )
        result = verdict(
            self.name,
            figures,
            "fail",
            passed_message=f"{len(self.config)} segment(s) within their limits",
            details={"segments": rows},
        )
        severities = {s.name: s.severity for s in self.config}
        if result.status == "fail" and all(
            severities[f.name.split(":")[0]] == "warn" for f in figures if f.ok is False
        ):
            result.status = "warn"
        if result.status == "pass" and thin:
            result.status = "warn"
            result.message = f"segments with too few rows to judge: {', '.join(thin)}"
        return result
