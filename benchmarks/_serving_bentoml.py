"""BentoML 1.4 anchor service for benchmarks/serving.py (runs in benchmarks/.venvs/bentoml only).

Configured through the environment (set by serving.py before ``bentoml serve``):

* ``BENCH_MODEL_PATH``: a joblib file holding the fitted scikit-learn model;
* ``BENCH_BATCHABLE``: ``1`` turns on BentoML's adaptive batching
  (``@bentoml.api(batchable=True)``).

``POST /predict`` with ``{"instances": [[...]]}`` answers a JSON list of predictions. Everything
else is BentoML's default (one worker, its own access log and request timeout): what users get.
"""

from __future__ import annotations

import os
import warnings

import bentoml
import joblib
import numpy as np

MODEL_PATH = os.environ["BENCH_MODEL_PATH"]
BATCHABLE = os.environ.get("BENCH_BATCHABLE", "0") == "1"

# The models were fitted on a DataFrame; scoring a bare array would warn on every call.
warnings.filterwarnings("ignore", message="X does not have valid feature names")


@bentoml.service(workers=1)
class Classifier:
    def __init__(self) -> None:
        self.model = joblib.load(MODEL_PATH)

    @bentoml.api(batchable=BATCHABLE)
    def predict(self, instances: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(instances))
