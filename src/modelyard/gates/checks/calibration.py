"""Calibration: expected calibration error, Brier score and a reliability diagram.

Bins and ECE come from ``modelyard.core.calibration``, the one implementation live monitoring
uses too: scikit-learn's ``calibration_curve(strategy="uniform")`` exactly, so the diagram
matches it point for point.
"""

from __future__ import annotations

from modelyard.core.calibration import expected_calibration_error, reliability_bins
from modelyard.core.gate_policy import CalibrationPolicy
from modelyard.gates import metrics as M
from modelyard.gates import svg
from modelyard.gates.base import CheckResult, at_most, clean, skipped, verdict
from modelyard.gates.context import GateContext


class CalibrationCheck:
    name = "calibration"

    def __init__(self, config: CalibrationPolicy | None = None) -> None:
        self.config = config or CalibrationPolicy()

    def run(self, ctx: GateContext) -> CheckResult:
        cfg = self.config
        if not ctx.binary:
            return skipped(self.name, "calibration is judged for binary classifiers")
        cand = ctx.predict(ctx.candidate)
        if cand.proba is None:
            return skipped(self.name, "the model has no predict_proba")
        champ = ctx.predict(ctx.champion) if ctx.champion else None
        champ_p = champ.proba if champ is not None else None
        curves = {"candidate": reliability_bins(ctx.y, cand.proba, cfg.bins)}
        if champ_p is not None:
            curves["champion"] = reliability_bins(ctx.y, champ_p, cfg.bins)
        ece = expected_calibration_error(ctx.y, cand.proba, cfg.bins)
        figures = [
            at_most(
                "expected calibration error",
                ece,
                cfg.max_ece,
                expected_calibration_error(ctx.y, champ_p, cfg.bins)
                if champ_p is not None
                else None,
            ),
            at_most(
                "brier score",
                M.compute("brier", ctx.y, cand),
                cfg.max_brier,
                M.compute("brier", ctx.y, champ)
                if champ is not None and champ_p is not None
                else None,
            ),
        ]
        pred, obs, counts = curves["candidate"]
        return verdict(
            self.name,
            figures,
            cfg.severity,
            passed_message="probabilities are calibrated within limits",
            details={
                "bins": cfg.bins,
                "reliability": [
                    {"mean_predicted": clean(p), "observed": clean(o), "rows": int(c)}
                    for p, o, c in zip(pred, obs, counts, strict=True)
                ],
            },
            charts=[
                svg.reliability(
                    {k: (v[0].tolist(), v[1].tolist(), v[2].tolist()) for k, v in curves.items()}
                )
            ],
        )


__all__ = ["CalibrationCheck", "expected_calibration_error", "reliability_bins"]
