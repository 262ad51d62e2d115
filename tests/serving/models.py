"""Test-only estimators: a real fitted pipeline that misbehaves on chosen (valid) inputs."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

RAISE_ON = -1.0  # a 'mean radius' of -1 makes the model raise
SLOW_ON = -2.0  # … of -2 makes it take SLOW_S seconds
SLOW_S = 1.0


class Flaky(ClassifierMixin, BaseEstimator):
    def __init__(self, inner: Any = None) -> None:
        self.inner = inner

    def fit(self, X: Any, y: Any) -> Flaky:
        self.inner.fit(X, y)
        self.classes_ = self.inner.classes_
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def _check(self, X: Any) -> None:
        radius = np.asarray(X["mean radius"], dtype=float)
        if (radius == RAISE_ON).any():
            raise RuntimeError("flaky model: refused this input")
        if (radius == SLOW_ON).any():
            time.sleep(SLOW_S)

    def predict(self, X: Any) -> Any:
        self._check(X)
        return self.inner.predict(X)

    def predict_proba(self, X: Any) -> Any:
        self._check(X)
        return self.inner.predict_proba(X)
