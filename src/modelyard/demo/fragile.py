"""A candidate that looks fine offline and fails live: its feature code cannot handle years after
the training data ends (a bug the evaluation data, which ends in 2002 too, cannot reveal)."""

from __future__ import annotations

from typing import Any

import numpy as np


class FragileYearModel:
    """Delegates to a fitted pipeline but raises for ``year`` beyond ``last_year``."""

    def __init__(self, inner: Any, last_year: int) -> None:
        self.inner = inner
        self.last_year = last_year
        self.classes_ = inner.classes_

    def _check(self, X: Any) -> None:
        if np.any(np.asarray(X["year"], dtype=float) > self.last_year):
            raise ValueError(f"no calendar for years after {self.last_year}")

    def predict(self, X: Any) -> Any:
        self._check(X)
        return self.inner.predict(X)

    def predict_proba(self, X: Any) -> Any:
        self._check(X)
        return self.inner.predict_proba(X)
