"""Multivariate drift: can a classifier tell reference rows from current ones?

A gradient-boosted domain classifier (scikit-learn's ``HistGradientBoostingClassifier``, which
takes missing values and categories natively) is cross-validated on up to ``multivariate_sample``
rows from each side (seeded, so verdicts are deterministic); the out-of-fold ROC AUC is the
effect. With no drift the AUC is 0.5 ± the Mann-Whitney standard error
``sqrt((n1 + n2 + 1) / (12 n1 n2))``; its one-sided p-value joins the report's Holm family, and
the verdict also needs ``AUC >= min_auc`` (0.55 by default). Works on raw frames and on the row
samples that sketches keep.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelyard.monitoring.stats import normal_sf

MAX_CODES = 250  # categories beyond the most frequent ones share one code


def domain_classifier(
    reference: Any, current: Any, columns: Sequence[tuple[str, str]], settings: Any
) -> dict[str, Any] | None:
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    cols = [(n, k) for n, k in columns if n in reference.columns and n in current.columns]
    if not cols:
        return None
    rng = np.random.default_rng(settings.seed)
    k = settings.multivariate_sample
    ref = reference.iloc[rng.permutation(len(reference))[:k]] if len(reference) > k else reference
    cur = current.iloc[rng.permutation(len(current))[:k]] if len(current) > k else current
    n1, n2 = len(ref), len(cur)
    if min(n1, n2) < 20:
        return None
    feats: dict[str, Any] = {}
    cat_mask: list[bool] = []
    for name, kind in cols:
        both = pd.concat([ref[name], cur[name]], ignore_index=True)
        if kind == "numeric":
            feats[name] = pd.to_numeric(both, errors="coerce").to_numpy(dtype=float)
            cat_mask.append(False)
        else:
            labels = both.astype("string")
            top = labels.value_counts().index[:MAX_CODES]
            kept = labels.where(labels.isin(top))
            codes = pd.Categorical(kept, categories=top).codes.astype(float)
            codes[(codes < 0) & labels.notna().to_numpy()] = MAX_CODES  # rare values
            codes[labels.isna().to_numpy()] = np.nan
            feats[name] = codes
            cat_mask.append(True)
    x = np.column_stack([feats[n] for n, _ in cols])
    y = np.concatenate([np.zeros(n1), np.ones(n2)])
    model = HistGradientBoostingClassifier(
        max_iter=50, learning_rate=0.1, categorical_features=np.array(cat_mask),
        random_state=settings.seed, early_stopping=False,
    )  # fmt: skip
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=settings.seed)
    # one OpenMP thread: small fits gain nothing from more, and on shared 2-core machines
    # libgomp's spinning threads made a 100-tree fit 20x slower than a single thread
    with threadpool_limits(limits=1, user_api="openmp"):
        proba = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, proba))
    se = math.sqrt((n1 + n2 + 1) / (12 * n1 * n2))
    return {
        "test": "domain_classifier",
        "auc": auc,
        "p_value": normal_sf((auc - 0.5) / se),
        "min_auc": settings.min_auc,
        "n_ref": n1,
        "n_cur": n2,
        "drifted": False,
    }
