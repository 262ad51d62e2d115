"""Robustness: corrupted inputs must not crash the model, and the metric must hold up.

Corruptions (each on a seeded sample of the evaluation rows): values set missing, Gaussian noise
scaled to each numeric feature's standard deviation, out-of-range numbers, unseen categories
and wrong types. With ``validate_inputs`` (the default) rows are first checked against the
model's signature the way the inference server does (types, nullability): rows it would reject
with a 4xx are counted as cleanly rejected; the rest reach the model, which must not raise, and
the metric on them may drop by at most ``max_drop``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from modelyard.core.gate_policy import RobustnessPolicy
from modelyard.gates import metrics as M
from modelyard.gates.base import CheckResult, Figure, at_most, clean, verdict
from modelyard.gates.context import GateContext
from modelyard.gates.metrics import Predictions

UNSEEN = "__modelyard_unseen__"


def _numeric(ctx: GateContext, X: pd.DataFrame) -> list[str]:
    return [
        c
        for c in X.columns
        if pd.api.types.is_numeric_dtype(X[c])
        and not pd.api.types.is_bool_dtype(X[c])
        and not ctx.is_categorical(c)
    ]


def _pick(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    return rng.random(n) < rate


def corrupt(
    kind: str, ctx: GateContext, X: pd.DataFrame, rng: np.random.Generator, cfg: RobustnessPolicy
) -> pd.DataFrame:
    out = X.copy()
    n = len(X)
    numeric = _numeric(ctx, X)
    if kind == "missing":
        for c in out.columns:
            hit = _pick(rng, n, cfg.rate)
            if pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c]):
                out[c] = out[c].astype(float).mask(hit)
            else:
                out[c] = out[c].astype(object).mask(hit, None)
    elif kind == "noise":
        for c in numeric:
            values = X[c].astype(float)
            spread = float(values.std()) or 1.0
            noisy = values + rng.normal(0.0, cfg.noise_scale * spread, n)
            out[c] = (
                noisy.round().astype(X[c].dtype) if pd.api.types.is_integer_dtype(X[c]) else noisy
            )
    elif kind == "out_of_range":
        for c in numeric:
            lo, hi = float(X[c].min()), float(X[c].max())
            span = (hi - lo) or 1.0
            hit = _pick(rng, n, cfg.rate)
            far = np.where(rng.random(n) < 0.5, lo - 3 * span, hi + 3 * span)
            col = pd.Series(np.where(hit, far, X[c].astype(float)), index=X.index)
            out[c] = col.round().astype(X[c].dtype) if pd.api.types.is_integer_dtype(X[c]) else col
    elif kind == "unseen_category":
        for c in X.columns:
            if c in numeric:
                continue
            hit = _pick(rng, n, cfg.rate)
            out[c] = X[c].astype(object).where(~hit, UNSEEN)
    elif kind == "wrong_type":
        for c in X.columns:
            hit = _pick(rng, n, cfg.rate)
            wrong: Any = "not-a-number" if c in numeric else 12345
            out[c] = X[c].astype(object).where(~hit, wrong)
    else:  # pragma: no cover - the policy only admits known kinds
        raise ValueError(kind)
    return out


def validate_like_server(ctx: GateContext, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Rows the signature accepts, and those rows decoded to the declared types."""
    ok = np.ones(len(X), dtype=bool)
    decoded = X.copy()
    for c in X.columns:
        col = ctx.column_schema(c)
        kind = col.get("type")
        s = X[c]
        missing = s.isna().to_numpy()
        if kind in ("integer", "float"):
            as_num = pd.to_numeric(
                s.where(~s.map(lambda v: isinstance(v, str | bool))), errors="coerce"
            )
            bad_type = as_num.isna().to_numpy() & ~missing
            ok &= ~bad_type
            decoded[c] = as_num
        elif kind in ("string", "boolean"):
            wanted: type | tuple[type, ...] = str if kind == "string" else (bool, np.bool_)
            bad_type = ~s.map(
                lambda v, t=wanted: v is None or isinstance(v, t) or v != v
            ).to_numpy()
            ok &= ~bad_type
            cats = col.get("categories")
            if kind == "string" and cats:
                # the server's policy for a category the training data never had
                unseen = ~bad_type & ~missing & ~s.astype(str).isin(set(map(str, cats))).to_numpy()
                policy = ctx.input_policy.unseen_categories if ctx.input_policy else "reject"
                if policy == "reject":
                    ok &= ~unseen
                elif policy == "as_missing":
                    decoded[c] = s.where(~unseen, None)
        if not col.get("nullable", True):
            ok &= ~missing
    accepted = decoded[ok].copy()
    for c in X.columns:  # restore the training dtypes the model was fitted on
        original = ctx.frame[c].dtype
        if accepted[c].notna().all():
            with contextlib.suppress(TypeError, ValueError):
                accepted[c] = accepted[c].astype(original)
    return ok, accepted


class RobustnessCheck:
    name = "robustness"

    def __init__(self, config: RobustnessPolicy | None = None) -> None:
        self.config = config or RobustnessPolicy()

    def run(self, ctx: GateContext) -> CheckResult:
        cfg = self.config
        M.check_task(cfg.metric, ctx.task, "models.*.gates.robustness.metric")
        rng = np.random.default_rng(cfg.seed)
        n = len(ctx.frame)
        idx = np.sort(rng.choice(n, size=min(n, cfg.max_rows), replace=False))
        X = ctx.X().iloc[idx]
        y = ctx.y[idx]
        sides = [ctx.candidate] + ([ctx.champion] if ctx.champion else [])
        figures: list[Figure] = []
        rows: list[dict[str, Any]] = []
        base = {side.label: ctx.predict_raw(side.model, X) for side in sides}
        for kind in cfg.corruptions:
            bad = corrupt(kind, ctx, X, np.random.default_rng([cfg.seed, len(kind)]), cfg)
            if cfg.validate_inputs:
                ok, accepted = validate_like_server(ctx, bad)
            else:
                ok, accepted = np.ones(len(bad), dtype=bool), bad
            outcome: dict[str, Any] = {"corruption": kind, "rejected_share": clean(1 - ok.mean())}
            drops: dict[str, float | None] = {}
            for side in sides:
                drop, error = self._drop(
                    ctx, side.model, base[side.label].take(ok), accepted, y[ok], cfg.metric
                )
                drops[side.label] = drop
                if side is ctx.candidate:
                    outcome.update(drop=clean(drop), error=error)
                    if error:
                        figures.append(
                            Figure(
                                name=f"{kind}: model raised",
                                value=1.0,
                                limit="must not raise",
                                ok=False,
                                note=error,
                            )
                        )
            outcome["champion_drop"] = clean(drops.get("champion"))
            rows.append(outcome)
            if outcome.get("error") is None:
                rejected = outcome["rejected_share"]
                note = f"{rejected:.0%} rejected cleanly by the signature" if rejected else None
                figures.append(
                    at_most(
                        f"{kind}: {cfg.metric} drop",
                        drops["candidate"],
                        cfg.max_drop,
                        drops.get("champion"),
                        note,
                    )
                )
        return verdict(
            self.name,
            figures,
            cfg.severity,
            passed_message=f"no crash; {cfg.metric} drop within {cfg.max_drop} on every corruption",
            details={"rows": len(X), "corruptions": rows, "metric": cfg.metric},
        )

    @staticmethod
    def _drop(
        ctx: GateContext,
        model: Any,
        clean_pred: Predictions,
        bad_X: pd.DataFrame,
        y: np.ndarray,
        metric: str,
    ) -> tuple[float | None, str | None]:
        if len(bad_X) == 0:
            return 0.0, None
        predict: Callable[..., Any] = ctx.predict_raw
        try:
            corrupted = M.compute(metric, y, predict(model, bad_X))
        except Exception as exc:  # the point of the test: a crash is a finding, not an error
            return None, f"{type(exc).__name__}: {str(exc)[:200]}"
        base = M.compute(metric, y, clean_pred)
        return M.worsening(metric, corrupted, base), None
