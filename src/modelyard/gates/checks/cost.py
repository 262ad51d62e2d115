"""Cost: CPU milliseconds per 1,000 predictions and artifact size, against the champion.

CPU time is ``time.process_time`` (all threads of this process) around the same prediction call
the gate uses, best of ``repeats`` after one warm-up, on a batch of ``rows`` evaluation rows.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from modelyard.core.gate_policy import CostPolicy
from modelyard.gates.base import CheckResult, Figure, at_most, verdict
from modelyard.gates.context import GateContext, Side


def cpu_ms_per_1k(ctx: GateContext, model: Any, X: pd.DataFrame, repeats: int) -> float:
    ctx.predict_raw(model, X.head(min(len(X), 100)))  # warm-up: lazy imports, caches
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        ctx.predict_raw(model, X)
        best = min(best, time.process_time() - start)
    return best * 1000.0 / len(X) * 1000.0


def _regression_pct(candidate: float | None, champion: float | None) -> float | None:
    if candidate is None or champion is None or champion <= 0:
        return None
    return (candidate - champion) / champion * 100.0


class CostCheck:
    name = "cost"

    def __init__(self, config: CostPolicy | None = None) -> None:
        self.config = config or CostPolicy()

    def _batch(self, ctx: GateContext) -> pd.DataFrame:
        """``rows`` evaluation rows (repeated when the set is smaller), keeping their index
        so each side reads its own columns of the same rows."""
        X = ctx.X()
        return X.iloc[np.resize(np.arange(len(X)), self.config.rows)] if len(X) else X

    def run(self, ctx: GateContext) -> CheckResult:
        cfg = self.config
        X = self._batch(ctx)
        cpu = cpu_ms_per_1k(
            ctx, ctx.candidate.model, ctx.inputs_for(ctx.candidate.model, X), cfg.repeats
        )
        champ: Side | None = ctx.champion
        champ_cpu = (
            cpu_ms_per_1k(ctx, champ.model, ctx.inputs_for(champ.model, X), cfg.repeats)
            if champ
            else None
        )
        size = ctx.candidate.size_bytes
        champ_size = champ.size_bytes if champ else None
        mb = None if size is None else size / 1e6
        champ_mb = None if champ_size is None else champ_size / 1e6
        figures: list[Figure] = [
            at_most("CPU ms per 1,000 predictions", cpu, cfg.max_cpu_ms_per_1k, champ_cpu),
            at_most("artifact size (MB)", mb, cfg.max_artifact_mb, champ_mb),
        ]
        judged = champ is not None
        limit = cfg.max_regression_pct if judged else None
        note = None if judged else "no champion: regression not judged"
        figures.append(
            at_most(
                "CPU regression vs champion (%)", _regression_pct(cpu, champ_cpu), limit, note=note
            )
        )
        figures.append(
            at_most(
                "size regression vs champion (%)", _regression_pct(mb, champ_mb), limit, note=note
            )
        )
        return verdict(
            self.name,
            figures,
            cfg.severity,
            passed_message=f"{cpu:.2f} CPU ms per 1,000 predictions; within limits",
            details={"rows": len(X), "repeats": cfg.repeats, "timer": "time.process_time"},
        )
