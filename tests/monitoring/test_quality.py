"""Live quality per window from joined labels: the figures agree with scikit-learn's on the same
rows, per protected group too, with the business KPI from the gate policy's matrix."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from modelyard.core.feedback_records import Label
from modelyard.monitoring.quality import window_quality
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.feedback import FeedbackStore
from tests.monitoring.feedback_support import FEATURES

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
WINDOW = dt.timedelta(minutes=5)


def _log(
    reg: Registry,
    mv_id: int,
    labels: list[Any],
    outputs: list[dict[str, list[Any]]],
    inputs: list[list[dict[str, Any]] | None],
    times: list[dt.datetime],
    endpoint: str = "arrests",
) -> None:
    """Labels and their joined predictions, as the join pass leaves them."""
    fb = FeedbackStore(reg.store)
    ids = [f"pred-{i}" for i in range(len(labels))]
    fb.add([Label(p, y) for p, y in zip(ids, labels, strict=True)], "api", "tester")
    fb.mark_joined(
        {
            "prediction_id": p,
            "endpoint": endpoint,
            "version_id": mv_id,
            "predicted_at": at,
            "output": out,
            "input": inp,
        }
        for p, out, inp, at in zip(ids, outputs, inputs, times, strict=True)
    )


def test_classification_figures_agree_with_scikit_learn_on_the_rows_of_the_window(
    arrests: tuple[Registry, ModelVersion, pd.DataFrame],
) -> None:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score

    reg, mv, ev = arrests
    rows = ev.head(400)
    model = reg.load_model(mv.ref)
    pred = model.predict(rows[FEATURES])
    proba = model.predict_proba(rows[FEATURES])
    inside = np.arange(400) < 300  # the last 100 were predicted an hour later
    times = [
        T0 + (dt.timedelta(seconds=i) if i < 300 else dt.timedelta(hours=1)) for i in range(400)
    ]
    recs = cast("list[dict[str, Any]]", rows[FEATURES].to_dict("records"))
    _log(
        reg,
        mv.id,
        rows["released"].tolist(),  # the raw target ("Yes"/"No"): positive_label maps it
        [
            {"predict": [int(p)], "predict_proba": [list(pp)]}
            for p, pp in zip(pred, proba, strict=True)
        ],
        [[r] for r in recs],
        times,
    )
    q = window_quality(reg, "arrests", mv.id, T0, T0 + WINDOW)

    y = (rows["released"] == "Yes").to_numpy(int)[inside]
    p, s = pred[inside], proba[inside, 1]
    assert q["labels"] == 300
    assert q["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert q["f1"] == pytest.approx(f1_score(y, p))
    assert q["auc"] == pytest.approx(roc_auc_score(y, s))
    # the gates' bins (calibration_curve's): a score on an inner edge falls in the bin below
    bins = np.searchsorted(np.linspace(0, 1, 11)[1:-1], s)
    ece = sum(
        np.sum(bins == b) / len(s) * abs(y[bins == b].mean() - s[bins == b].mean())
        for b in range(10)
        if np.any(bins == b)
    )
    assert q["ece"] == pytest.approx(ece)
    _tn, fp, fn, tp = confusion_matrix(y, p).ravel()  # kpi: {tp: 10, fp: -30, fn: -5, tn: 0}
    assert q["kpi"] == pytest.approx((10 * tp - 30 * fp - 5 * fn) / len(y) * 1000)
    sex = rows["sex"].to_numpy()[inside]
    for group in ("Male", "Female"):
        mask = sex == group
        assert q[f"accuracy.sex={group}"] == pytest.approx(accuracy_score(y[mask], p[mask]))
        assert q[f"labels.sex={group}"] == mask.sum()
    assert "accuracy.colour=Black" in q
    assert not any(k.startswith("accuracy.age=") for k in q)  # too many values to split
    late = window_quality(reg, "arrests", mv.id, T0 + dt.timedelta(hours=1), None)
    assert late["labels"] == 100


def test_regression_figures_agree_with_scikit_learn_and_multi_row_predictions_count_per_row(
    registry: Registry,
) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = Ridge().fit(X, y)
    mv = registry.register_model(model, "diabetes", X.head())
    X, y = X.head(90), y.head(90).to_numpy()
    pred = model.predict(X)
    # 30 predictions of three rows each, labelled with a list of three values
    _log(
        registry,
        mv.id,
        [y[i : i + 3].tolist() for i in range(0, 90, 3)],
        [{"predict": pred[i : i + 3].tolist()} for i in range(0, 90, 3)],
        [None] * 30,
        [T0 + dt.timedelta(seconds=i) for i in range(30)],
        endpoint="diabetes",
    )
    q = window_quality(registry, "diabetes", mv.id, T0, T0 + WINDOW)
    assert q["labels"] == 90
    assert q["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, pred)))
    assert q["mae"] == pytest.approx(mean_absolute_error(y, pred))
    assert "accuracy" not in q


def test_a_window_without_labels_has_no_figures(registry: Registry) -> None:
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    mv = registry.register_model(DecisionTreeClassifier(max_depth=2).fit(X, y), "iris", X.head())
    assert window_quality(registry, "iris", mv.id, T0, T0 + WINDOW) == {}
    _log(registry, mv.id, [0, 2], [{"predict": [0]}, {"predict": [1]}], [None, None], [T0, T0])
    assert window_quality(registry, "arrests", mv.id, T0 + WINDOW, None) == {}
    q = window_quality(registry, "arrests", mv.id, T0.timestamp(), (T0 + WINDOW).timestamp())
    assert q["labels"] == 2 and q["accuracy"] == 0.5  # multiclass: f1 is macro-averaged
    assert "auc" not in q and "kpi" not in q
