"""Explainability artifact: permutation importance (scikit-learn), plus TreeSHAP values for tree
models when the optional ``explain`` extra is installed, stored with the version.

The importances are computed on a seeded sample of the evaluation rows, scored with the gate's
own metric convention, and saved as a JSON artifact whose digest the report links. The check
only fails if the importances cannot be computed.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from modelyard.core.gate_policy import ExplainPolicy
from modelyard.gates import metrics as M
from modelyard.gates import svg
from modelyard.gates.base import CheckResult, Figure, clean
from modelyard.gates.context import GateContext


def permutation_importances(ctx: GateContext, cfg: ExplainPolicy) -> dict[str, Any]:
    from sklearn.inspection import permutation_importance

    metric = cfg.metric or ("accuracy" if ctx.task == "classification" else "r2")
    M.check_task(metric, ctx.task, "models.*.gates.explain.metric")
    sign = 1.0 if M.higher_is_better(metric) else -1.0
    rng = np.random.default_rng(cfg.seed)
    n = len(ctx.frame)
    idx = np.sort(rng.choice(n, size=min(n, cfg.max_rows), replace=False))
    X, y = ctx.X().iloc[idx], ctx.y[idx]

    def scorer(est: Any, X_: Any, y_: Any) -> float:
        return sign * M.compute(metric, np.asarray(y_), ctx.predict_raw(est, X_))

    result = permutation_importance(
        ctx.candidate.model,
        X,
        y,
        scoring=scorer,
        n_repeats=cfg.n_repeats,
        random_state=cfg.seed,
    )
    order = np.argsort(-result.importances_mean)
    return {
        "method": "permutation_importance",
        "metric": metric,
        "rows": len(X),
        "n_repeats": cfg.n_repeats,
        "seed": cfg.seed,
        "features": [
            {
                "feature": X.columns[i],
                "importance_mean": clean(result.importances_mean[i]),
                "importance_std": clean(result.importances_std[i]),
            }
            for i in order
        ],
    }


def tree_shap(ctx: GateContext, cfg: ExplainPolicy) -> dict[str, Any] | None:
    """Mean |SHAP value| per feature for tree models (TreeSHAP, exact), when the optional
    ``explain`` extra (shap) is installed. A pipeline is explained on its final estimator's
    inputs, named as the preprocessing names them. None: shap missing or not a tree model."""
    try:
        import shap
    except ImportError:
        return None
    model = ctx.candidate.model
    X = ctx.X()
    steps = getattr(model, "steps", None)
    final, X_in, names = model, X, list(X.columns)
    if steps:
        pre = model[:-1]
        final = steps[-1][1]
        try:
            X_in = pre.transform(X)
            names = [str(n) for n in pre.get_feature_names_out()]
        except Exception:  # a preprocessing step that cannot name its outputs
            return None
    rng = np.random.default_rng(cfg.seed)
    n = X_in.shape[0]
    idx = np.sort(rng.choice(n, size=min(n, 500), replace=False))
    rows = X_in.iloc[idx] if hasattr(X_in, "iloc") else np.asarray(X_in)[idx]
    try:
        explainer = shap.TreeExplainer(final)
        values = explainer.shap_values(rows)
    except Exception:  # not a tree model shap can explain exactly
        return None
    arr = np.asarray(values)
    if arr.ndim == 3:  # (rows, features, classes) or (classes, rows, features)
        arr = arr[..., -1] if arr.shape[-1] != len(names) else arr[-1]
    mean_abs = np.abs(arr).mean(axis=0)
    order = np.argsort(-mean_abs)
    return {
        "method": "tree_shap",
        "rows": len(idx),
        "features": [{"feature": names[i], "mean_abs_shap": clean(mean_abs[i])} for i in order],
    }


class ExplainCheck:
    name = "explain"

    def __init__(self, config: ExplainPolicy | None = None) -> None:
        self.config = config or ExplainPolicy()

    def run(self, ctx: GateContext) -> CheckResult:
        data = permutation_importances(ctx, self.config)
        artifacts: dict[str, str] = {}
        if ctx.put_artifact is not None:
            blob = json.dumps(data, indent=2, sort_keys=True).encode()
            artifacts["permutation_importance"] = ctx.put_artifact(blob, "explain")
        shap_data = tree_shap(ctx, self.config)
        if shap_data is not None:
            data["shap"] = shap_data
            if ctx.put_artifact is not None:
                blob = json.dumps(shap_data, indent=2, sort_keys=True).encode()
                artifacts["shap"] = ctx.put_artifact(blob, "explain")
        feats = data["features"]
        top = feats[0] if feats else None
        figures = [
            Figure(
                name=f"top feature: {top['feature']}" if top else "top feature",
                value=top["importance_mean"] if top else None,
                note=f"mean drop in {data['metric']} when shuffled",
            )
        ]
        chart = svg.bars(
            f"permutation importance (drop in {data['metric']})",
            [f["feature"] for f in feats[:15]],
            {"importance": [f["importance_mean"] for f in feats[:15]]},
        )
        stored = " and stored" if artifacts else ""
        also = " (and TreeSHAP values)" if shap_data is not None else ""
        return CheckResult(
            name=self.name,
            status="pass",
            message=f"permutation importance of {len(feats)} features{also} computed{stored}",
            figures=figures,
            details=data,
            artifacts=artifacts,
            charts=[chart],
        )
