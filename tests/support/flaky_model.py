"""A model that fails on part of its inputs, for canary tests (stored with trust=True)."""

from __future__ import annotations

from typing import Any

import numpy as np


class FailsOnSomeRows:
    """Delegates to a fitted model but raises for rows whose ``age`` is divisible by ``every``."""

    def __init__(self, inner: Any, every: int = 3) -> None:
        self.inner = inner
        self.every = every
        self.classes_ = inner.classes_

    def _check(self, X: Any) -> None:
        if np.any(np.asarray(X["age"]) % self.every == 0):
            raise ValueError("this candidate cannot score ages divisible by 3")

    def predict(self, X: Any) -> Any:
        self._check(X)
        return self.inner.predict(X)

    def predict_proba(self, X: Any) -> Any:
        self._check(X)
        return self.inner.predict_proba(X)
