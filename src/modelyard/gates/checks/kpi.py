"""Business KPI: the value of the model's decisions, from a cost/benefit matrix or a function.

With ``matrix: {tp: …, fp: …, fn: …, tn: …}`` the figure is the value per 1,000 predictions on
the evaluation data (binary classifiers). With ``function: module:function`` the function is
called as ``function(y_true, y_pred, proba)`` and its number is the figure. Either is compared
with the champion's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelyard.core.errors import ConfigError
from modelyard.core.gate_policy import KpiPolicy
from modelyard.gates.base import CheckResult, Figure, at_least, at_most, clean, verdict
from modelyard.gates.context import GateContext
from modelyard.gates.metrics import Predictions


def matrix_value_per_1k(y: np.ndarray, labels: np.ndarray, matrix: dict[str, float]) -> float:
    y = np.asarray(y).astype(int)
    p = np.asarray(labels).astype(int)
    counts = {
        "tp": int(np.sum((y == 1) & (p == 1))),
        "fp": int(np.sum((y == 0) & (p == 1))),
        "fn": int(np.sum((y == 1) & (p == 0))),
        "tn": int(np.sum((y == 0) & (p == 0))),
    }
    total = sum(counts[k] * float(matrix.get(k, 0.0)) for k in counts)
    return total / max(len(y), 1) * 1000.0


class KpiCheck:
    name = "kpi"

    def __init__(self, config: KpiPolicy | None = None) -> None:
        self.config = config or KpiPolicy(matrix={"tp": 1.0, "tn": 1.0})

    def _value(self, ctx: GateContext, p: Predictions) -> float:
        cfg = self.config
        if cfg.matrix is not None:
            if not ctx.binary:
                raise ConfigError(
                    "models.*.gates.kpi.matrix needs a binary classifier",
                    hint="declare kpi.function (module:function(y_true, y_pred, proba)) instead",
                )
            return matrix_value_per_1k(ctx.y, p.labels, {str(k): v for k, v in cfg.matrix.items()})
        assert cfg.function is not None
        fn = ctx.load_function(cfg.function, "models.*.gates.kpi.function")
        value: Any = fn(ctx.y, p.labels, p.proba)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"models.*.gates.kpi.function {cfg.function} returned {value!r}, not a number"
            ) from None

    def run(self, ctx: GateContext) -> CheckResult:
        cfg = self.config
        label = "value per 1,000 predictions" if cfg.matrix is not None else "KPI"
        value = self._value(ctx, ctx.predict(ctx.candidate))
        champ = self._value(ctx, ctx.predict(ctx.champion)) if ctx.champion else None
        figures: list[Figure] = [at_least(label, value, cfg.min_per_1k, champ)]
        if cfg.max_drop_pct is not None:
            if champ is None:
                figures.append(
                    Figure(name="drop vs champion (%)", value=None, note="no champion: not judged")
                )
            else:
                drop = (champ - value) / abs(champ) * 100.0 if champ else 0.0
                figures.append(at_most("drop vs champion (%)", drop, cfg.max_drop_pct))
        return verdict(
            self.name,
            figures,
            cfg.severity,
            passed_message=f"{label}: {value:,.2f}",
            details={
                "matrix": dict(cfg.matrix) if cfg.matrix else None,
                "function": cfg.function,
                "candidate": clean(value),
                "champion": clean(champ),
            },
        )
