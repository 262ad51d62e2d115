"""Reproducibility: retrain from the recorded lineage and compare.

The runner gives the context a ``retrain`` callable (built from the version's run: the same
dataset versions, params and seed, and the model's declared ``train`` entrypoint). This check
calls it, compares the named metrics on the evaluation data within ``tolerance``, and reports
whether the retrained artifact's digest is byte-identical to the registered one.
"""

from __future__ import annotations

import numpy as np

from modelyard.core.gate_policy import ReproducibilityPolicy
from modelyard.gates import metrics as M
from modelyard.gates.base import CheckResult, Figure, at_most, skipped, verdict
from modelyard.gates.context import GateContext


class ReproducibilityCheck:
    name = "reproducibility"

    def __init__(self, config: ReproducibilityPolicy | None = None) -> None:
        self.config = config or ReproducibilityPolicy()

    def run(self, ctx: GateContext) -> CheckResult:
        cfg = self.config
        if ctx.retrain is None:
            return skipped(
                self.name,
                "cannot retrain: declare the training entrypoint as models.<name>.train "
                "(module:function) and train the version inside a recorded run",
            )
        model, digest = ctx.retrain()
        original = ctx.predict(ctx.candidate)
        again = ctx.predict_raw(model, ctx.X())
        figures: list[Figure] = []
        values = {}
        for name in cfg.metrics:
            M.check_task(name, ctx.task, "models.*.gates.reproducibility.metrics")
            a, b = M.compute(name, ctx.y, original), M.compute(name, ctx.y, again)
            values[name] = {"registered": a, "retrained": b}
            figures.append(
                at_most(
                    f"{name} |difference|", abs(a - b), cfg.tolerance, note=f"{a:.6g} vs {b:.6g}"
                )
            )
        if original.proba is not None and again.proba is not None:
            delta = float(np.max(np.abs(original.proba - again.proba))) if len(ctx.y) else 0.0
            what = "max |probability difference|"
        else:
            a_, b_ = np.asarray(original.labels), np.asarray(again.labels)
            numeric = a_.dtype.kind in "fiu" and b_.dtype.kind in "fiu"
            delta = (
                float(np.max(np.abs(a_ - b_))) if numeric and len(a_) else float(np.mean(a_ != b_))
            )
            what = "max |prediction difference|" if numeric else "share of predictions differing"
        figures.append(at_most(what, delta, cfg.tolerance))
        identical = digest is not None and digest == ctx.artifact_digest
        figures.append(
            Figure(
                name="artifact digest identical",
                value=1.0 if identical else 0.0,
                limit="= 1" if cfg.require_identical_digest else None,
                ok=identical if cfg.require_identical_digest else None,
                note=None
                if identical
                else "bytes differ (serialisers may embed timestamps); predictions compared above",
            )
        )
        return verdict(
            self.name,
            figures,
            cfg.severity,
            passed_message="retrained from lineage: metrics match within tolerance"
            + ("; identical artifact digest" if identical else "; artifact bytes differ"),
            details={
                "metrics": values,
                "registered_digest": ctx.artifact_digest,
                "retrained_digest": digest,
                "identical_digest": identical,
            },
        )
