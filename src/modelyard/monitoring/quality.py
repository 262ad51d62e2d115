"""Live quality per window, from joined feedback labels.

A label lands in the window of its *prediction* (not of its arrival), so a label that comes a
week late still corrects the figures of the window the model answered in. The monitor calls
:func:`window_quality` for each closed window (``Monitor(reg, quality=window_quality)``) and
reads the keys as ``quality.<key>`` signals:

- ``labels``: labelled rows in the window (no labels: an empty dict, nothing is judged)
- classification: ``accuracy``, ``f1`` (binary: of the positive class; else macro),
  ``auc`` and ``ece`` (binary, when the prediction log holds ``predict_proba``; the gates'
  bins, from ``modelyard.core.calibration``)
- regression: ``rmse``, ``mae``
- per protected group, from the logged (sampled) inputs: ``accuracy.sex=Male`` (``mae.…`` for
  regression) and ``labels.sex=Male``
- ``kpi``: value per 1,000 predictions when the model's gate policy declares a kpi matrix
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelyard.core.calibration import CalibrationCounts as CalibrationCounts  # the one ECE
from modelyard.core.feedback_records import StoredLabel
from modelyard.core.records import ModelVersion
from modelyard.registry.registry import Registry
from modelyard.store.feedback import FeedbackStore

MAX_GROUPS = 20  # a protected column with more distinct values (e.g. age) is not split


@dataclass
class LabelledRows:
    """Joined labels expanded to one entry per predicted row."""

    y: list[Any] = field(default_factory=list)
    pred: list[Any] = field(default_factory=list)
    proba: list[list[float] | None] = field(default_factory=list)
    inputs: list[dict[str, Any] | None] = field(default_factory=list)


def expand(rows: list[StoredLabel]) -> LabelledRows:
    out = LabelledRows()
    for r in rows:
        output = r.output or {}
        preds = list(output.get("predict") or [])
        probas = output.get("predict_proba")
        labels = r.label if isinstance(r.label, list) else [r.label]
        if not preds or len(labels) != len(preds):
            continue  # a label that does not match the prediction's rows is not judged
        inputs = r.input if isinstance(r.input, list) else None
        for i, (y, p) in enumerate(zip(labels, preds, strict=True)):
            out.y.append(y)
            out.pred.append(p)
            out.proba.append(list(probas[i]) if probas and i < len(probas) else None)
            out.inputs.append(inputs[i] if inputs and i < len(inputs) else None)
    return out


def _as_utc(value: dt.datetime | float | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def window_quality(
    reg: Registry,
    endpoint: str,
    version_id: int | None,
    start: dt.datetime | float | None,
    end: dt.datetime | float | None,
) -> dict[str, float]:
    """Quality of ``version_id`` (None: every version) on ``endpoint`` over the predictions
    made in [start, end); keys without the ``quality.`` prefix, empty without labels."""
    rows = FeedbackStore(reg.store).joined(endpoint, version_id, _as_utc(start), _as_utc(end))
    if not rows:
        return {}
    data = expand(rows)
    if not data.y:
        return {}
    ids = {r.version_id for r in rows if r.version_id is not None}  # all of them: joined
    mv = reg.store.versions.by_id(version_id if version_id is not None else min(ids))
    signature: dict[str, Any] = mv.signature or {}
    mc = reg.config.model(mv.model_name)
    task = mc.task or signature.get("task")
    if task is None:
        task = "classification" if any(p is not None for p in data.proba) else "regression"
    if task == "regression":
        return _regression(data, _protected(reg, mv))
    classes = list(signature.get("classes") or sorted({*data.pred}, key=str))
    return _classification(
        data, classes, mc.gates.positive_label, mc.gates.kpi, _protected(reg, mv)
    )


# ---- classification ---------------------------------------------------------------------
def _encode(labels: list[Any], classes: list[Any], positive: Any) -> list[Any]:
    """Labels in the model's classes: as given, or (binary) the positive label → classes[1],
    anything else → classes[0] (e.g. target Yes/No for a model trained on target == "Yes")."""
    index = {c: c for c in classes}
    if all(y in index for y in labels):
        return [index[y] for y in labels]  # True → 1 when the classes are 0/1
    if len(classes) == 2 and positive is not None and positive not in index:
        return [classes[1] if y == positive else classes[0] for y in labels]
    by_text = {str(c): c for c in classes}
    return [by_text.get(str(y), y) for y in labels]


def _classification(
    data: LabelledRows,
    classes: list[Any],
    positive: Any,
    kpi: Any,
    protected: list[str],
) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    y = _encode(data.y, classes, positive)
    pred = data.pred
    out: dict[str, float] = {"labels": float(len(y))}
    y_arr, p_arr = np.asarray(y, dtype=object), np.asarray(pred, dtype=object)
    out["accuracy"] = float(accuracy_score(y_arr.astype(str), p_arr.astype(str)))
    binary = len(classes) == 2
    pos = classes[1] if positive is None or positive not in classes else positive
    if binary:
        yb = (y_arr == pos).astype(int)
        pb = (p_arr == pos).astype(int)
        out["f1"] = float(f1_score(yb, pb, zero_division=0.0))
        scored = [i for i, p in enumerate(data.proba) if p is not None and len(p) == 2]
        if len(scored) == len(data.proba):
            score = np.asarray([p[classes.index(pos)] for p in data.proba if p is not None])
            if len(set(yb.tolist())) == 2:
                out["auc"] = float(roc_auc_score(yb, score))
            out["ece"] = CalibrationCounts.of(yb, score).ece()
        if kpi is not None and kpi.matrix is not None:
            out["kpi"] = matrix_value_per_1k(yb, pb, {str(k): v for k, v in kpi.matrix.items()})
    else:
        out["f1"] = float(
            f1_score(y_arr.astype(str), p_arr.astype(str), average="macro", zero_division=0.0)
        )
    for key, idx in _groups(data, protected).items():
        hits = [str(y[i]) == str(pred[i]) for i in idx]
        out[f"accuracy.{key}"] = float(np.mean(hits))
        out[f"labels.{key}"] = float(len(idx))
    return out


def matrix_value_per_1k(y: np.ndarray, pred: np.ndarray, matrix: dict[str, float]) -> float:
    """The gates' kpi figure: value of the outcomes (tp, fp, fn, tn) per 1,000 predictions."""
    counts = {
        "tp": int(np.sum((y == 1) & (pred == 1))),
        "fp": int(np.sum((y == 0) & (pred == 1))),
        "fn": int(np.sum((y == 1) & (pred == 0))),
        "tn": int(np.sum((y == 0) & (pred == 0))),
    }
    total = sum(n * float(matrix.get(k, 0.0)) for k, n in counts.items())
    return total / max(len(y), 1) * 1000.0


# ---- regression -------------------------------------------------------------------------
def _regression(data: LabelledRows, protected: list[str]) -> dict[str, float]:
    try:
        y = np.asarray(data.y, dtype=float)
        pred = np.asarray(data.pred, dtype=float)
    except (TypeError, ValueError):
        return {"labels": float(len(data.y))}  # non-numeric labels on a regressor: count only
    err = pred - y
    out = {
        "labels": float(len(y)),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
    }
    for key, idx in _groups(data, protected).items():
        out[f"mae.{key}"] = float(np.mean(np.abs(err[idx])))
        out[f"labels.{key}"] = float(len(idx))
    return out


# ---- protected groups -------------------------------------------------------------------
def _protected(reg: Registry, mv: ModelVersion) -> list[str]:
    """Protected columns: tagged in the signature, or in the project file for the datasets
    the version was trained on."""
    names = [i["name"] for i in (mv.signature or {}).get("inputs", []) if i.get("protected")]
    if mv.run_id:
        for inp in reg.store.runs.inputs(mv.run_id):
            names += list(reg.config.dataset(inp.dataset.name).protected)
    return list(dict.fromkeys(names))


def _groups(data: LabelledRows, protected: list[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for col in protected:
        values: dict[str, list[int]] = {}
        for i, rec in enumerate(data.inputs):
            if rec is None or col not in rec or rec[col] is None:
                continue
            values.setdefault(str(rec[col]), []).append(i)
        if 0 < len(values) <= MAX_GROUPS:
            for value, idx in sorted(values.items()):
                groups[f"{col}={value}"] = idx
    return groups


__all__ = ["window_quality"]
