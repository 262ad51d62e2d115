"""The baseline a model version is monitored against: its training data, as it was profiled.

Every process that needs a version's baseline (each server replica filling windows, the
monitor judging them) builds it the same way from the same registered dataset version, and
the build is deterministic (fixed sample, fixed seed), so the bins a replica counts on are the
bins the monitor compares with. Built once per process and version, off the event loop.

Which data: the dataset the version's run read with role ``train`` (else its first input);
a derived version (e.g. an ONNX conversion) uses its parent's. Which columns: the inputs of
the version's signature, categorical where the dataset is tagged so or non-numeric. The
prediction distribution comes from scoring the version on up to ``PREDICTION_ROWS`` rows of
that data, with the same scalar the server observes (``prediction_scalar``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from modelyard.monitoring.baseline import Baseline
from modelyard.registry.registry import ModelVersion, Registry

log = logging.getLogger("modelyard.monitoring")

PREDICTION_ROWS = 20_000
SEED = 0


def prediction_scalar(outputs: dict[str, Any]) -> Any:
    """The value monitored as "the prediction" of one answer: ``predict``, one per row — a
    class label (integers, booleans, strings) as text, so its distribution is compared as
    categories; a regression value as a number. None when the answer has no ``predict``."""
    out = outputs.get("predict")
    if out is None:
        return None
    arr = np.asarray(out)
    if arr.ndim > 1:
        arr = arr.reshape(len(arr), -1)[:, 0]
    if arr.dtype.kind in "iubOSU":
        return arr.astype(str).astype(object)
    return arr


def training_dataset(reg: Registry, mv: ModelVersion) -> str | None:
    """``NAME@VERSION`` of the data the version was trained on, if recorded."""
    seen: set[int] = set()
    while mv.run_id is None and mv.parent_id is not None and mv.parent_id not in seen:
        seen.add(mv.parent_id)
        mv = reg.store.versions.by_id(mv.parent_id)
    if mv.run_id is None:
        return None
    inputs = reg.store.runs.inputs(mv.run_id)
    if not inputs:
        return None
    chosen = next((d for d in inputs if d.role == "train"), inputs[0])
    return f"{chosen.dataset.name}@{chosen.dataset.version}"


def build_baseline(reg: Registry, mv: ModelVersion, model: Any = None) -> Baseline | None:
    """The version's baseline, or None when its training data is not known."""
    ref = training_dataset(reg, mv)
    if ref is None:
        return None
    frame = reg.load_dataset(ref)
    names = [i["name"] for i in mv.signature.get("inputs", []) if i["name"] in frame.columns]
    if not names:
        return None
    dataset_name = ref.split("@", 1)[0]
    tags = reg.config.dataset(dataset_name)
    pii = set(tags.pii) | {i["name"] for i in mv.signature.get("inputs", []) if i.get("pii")}
    categorical = set(tags.categorical) | {
        i["name"]
        for i in mv.signature.get("inputs", [])
        if i.get("type") in ("string", "str", "object", "category", "bool", "boolean")
    }
    X = frame[names]
    prediction = None
    if model is None:
        try:
            model = reg.load_model(mv)
        except Exception:  # no prediction baseline beats no baseline at all
            log.warning("baseline of %s: could not load the model", mv.ref, exc_info=True)
    if model is not None and hasattr(model, "predict"):
        sample = X if len(X) <= PREDICTION_ROWS else X.sample(PREDICTION_ROWS, random_state=SEED)
        try:
            prediction = prediction_scalar({"predict": model.predict(sample)})
            X = sample
        except Exception:
            log.warning("baseline of %s: the model could not score its data", mv.ref, exc_info=True)
    return Baseline.from_frame(
        X.reset_index(drop=True), categorical=categorical, prediction=prediction, exclude=pii
    )


class BaselineCache:
    """One baseline per version per process; thread-safe, built on first use."""

    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self._lock = threading.Lock()
        self._built: dict[int, Baseline | None] = {}

    def get(self, mv: ModelVersion, model: Any = None) -> Baseline | None:
        with self._lock:
            if mv.id in self._built:
                return self._built[mv.id]
        try:
            baseline = build_baseline(self.reg, mv, model)
        except Exception:
            log.warning("no baseline for %s", mv.ref, exc_info=True)
            baseline = None
        with self._lock:
            self._built[mv.id] = baseline
        return baseline
