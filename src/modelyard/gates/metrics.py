"""Standard metrics by name, computed with scikit-learn on one prediction convention.

Binary classification: ``y`` and ``labels`` are 0/1 (1 = the positive class) and ``proba`` is
P(positive). Multi-class: ``y`` and ``labels`` are class labels and ``proba`` the full matrix.
Regression: ``labels`` holds the predicted values. Figures are scikit-learn's own, so they agree
with it exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.core.errors import ConfigError
from modelyard.core.gate_policy import CLASSIFICATION_METRICS, LOWER_IS_BETTER, METRICS


@dataclass(frozen=True)
class Predictions:
    labels: np.ndarray
    proba: np.ndarray | None = None
    classes: tuple[Any, ...] | None = None  # multi-class label order of proba's columns

    def take(self, mask: np.ndarray) -> Predictions:
        proba = None if self.proba is None else self.proba[mask]
        return Predictions(self.labels[mask], proba, self.classes)


def _binary(p: Predictions) -> bool:
    return p.proba is not None and p.proba.ndim == 1


def _avg(p: Predictions) -> str:
    return "binary" if p.classes is None or len(p.classes) <= 2 else "macro"


def _need_proba(name: str, p: Predictions) -> np.ndarray:
    if p.proba is None:
        raise ConfigError(
            f"metric {name!r} needs predicted probabilities but the model has no predict_proba",
            hint="use a label metric such as accuracy or f1",
        )
    return p.proba


def _roc_auc(y: np.ndarray, p: Predictions) -> float:
    from sklearn.metrics import roc_auc_score

    proba = _need_proba("roc_auc", p)
    if len(np.unique(y)) < 2:
        return float("nan")  # undefined on one class
    if _binary(p):
        return float(roc_auc_score(y, proba))
    return float(roc_auc_score(y, proba, multi_class="ovr", labels=list(p.classes or ())))


def _log_loss(y: np.ndarray, p: Predictions) -> float:
    from sklearn.metrics import log_loss

    proba = _need_proba("log_loss", p)
    labels = [0, 1] if _binary(p) else list(p.classes or ())
    return float(log_loss(y, proba, labels=labels))


def _brier(y: np.ndarray, p: Predictions) -> float:
    from sklearn.metrics import brier_score_loss

    proba = _need_proba("brier", p)
    if not _binary(p):
        raise ConfigError("metric 'brier' is defined here for binary classification only")
    return float(brier_score_loss(y, proba, pos_label=1))


def _average_precision(y: np.ndarray, p: Predictions) -> float:
    from sklearn.metrics import average_precision_score

    proba = _need_proba("average_precision", p)
    if not _binary(p):
        raise ConfigError("metric 'average_precision' is defined here for binary tasks only")
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(average_precision_score(y, proba))


def _label(fn_name: str, **kw: Any) -> Callable[[np.ndarray, Predictions], float]:
    def metric(y: np.ndarray, p: Predictions) -> float:
        import sklearn.metrics as skm

        fn = getattr(skm, fn_name)
        extra = dict(kw)
        if fn_name in ("precision_score", "recall_score", "f1_score"):
            extra.update(average=_avg(p), zero_division=0)
        return float(fn(y, p.labels, **extra))

    return metric


def _selection_rate(y: np.ndarray, p: Predictions) -> float:
    return float(np.mean(p.labels == 1)) if len(p.labels) else float("nan")


def _rmse(y: np.ndarray, p: Predictions) -> float:
    from sklearn.metrics import mean_squared_error

    return float(np.sqrt(mean_squared_error(y, p.labels)))


_FUNCS: dict[str, Callable[[np.ndarray, Predictions], float]] = {
    "accuracy": _label("accuracy_score"),
    "balanced_accuracy": _label("balanced_accuracy_score"),
    "precision": _label("precision_score"),
    "recall": _label("recall_score"),
    "f1": _label("f1_score"),
    "roc_auc": _roc_auc,
    "average_precision": _average_precision,
    "log_loss": _log_loss,
    "brier": _brier,
    "selection_rate": _selection_rate,
    "rmse": _rmse,
    "mse": _label("mean_squared_error"),
    "mae": _label("mean_absolute_error"),
    "r2": _label("r2_score"),
    "mape": _label("mean_absolute_percentage_error"),
}
assert set(_FUNCS) == set(METRICS), "gate_policy.METRICS and gates.metrics disagree"


def higher_is_better(name: str) -> bool:
    return name not in LOWER_IS_BETTER


def check_task(name: str, task: str, where: str) -> None:
    """Refuse a metric that does not apply to the task, naming the policy key."""
    is_cls = name in CLASSIFICATION_METRICS
    if (task == "classification") != is_cls:
        allowed = [m for m in METRICS if (m in CLASSIFICATION_METRICS) == (task != "regression")]
        raise ConfigError(
            f"{where}: metric {name!r} does not apply to a {task} model",
            hint=f"use one of: {', '.join(allowed)}",
        )


def compute(name: str, y: np.ndarray, p: Predictions) -> float:
    """The named metric; NaN when undefined on these rows (e.g. ROC AUC on one class)."""
    if len(y) == 0:
        return float("nan")
    return _FUNCS[name](y, p)


def worsening(name: str, candidate: float, champion: float) -> float:
    """How much worse the candidate is than the champion (positive = worse)."""
    return champion - candidate if higher_is_better(name) else candidate - champion
