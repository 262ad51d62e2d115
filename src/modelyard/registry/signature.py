"""Input/output signatures inferred from sample data; the server compiles validators from them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelyard.core.errors import InvalidInput
from modelyard.registry.tabular import canonical_kind


def infer_signature(
    model: Any,
    sample: Any,
    dataset_schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    raw = sample  # predict on what the caller gave: a model fitted on arrays has no names
    if isinstance(sample, np.ndarray):
        if sample.ndim != 2:
            raise InvalidInput(f"sample_input must be 2-D, got shape {sample.shape}")
        sample = pd.DataFrame(sample, columns=[f"f{i}" for i in range(sample.shape[1])])
    if not isinstance(sample, pd.DataFrame):
        raise InvalidInput(
            "sample_input must be a pandas DataFrame or 2-D NumPy array, "
            f"got {type(sample).__name__}"
        )
    if len(sample) == 0:
        raise InvalidInput("sample_input has no rows; give a few rows of training data")
    known = {c["name"]: c for c in (dataset_schema or {}).get("columns", [])}
    inputs = []
    for name in sample.columns:
        col = known.get(str(name), {})
        entry: dict[str, Any] = {
            "name": str(name),
            "type": col.get("type") or canonical_kind(sample[name]),
            "nullable": bool(col.get("nullable", sample[name].isna().any())),
        }
        if col.get("categories"):
            entry["categories"] = col["categories"]
        if col.get("pii"):
            entry["pii"] = True
        if col.get("protected"):
            entry["protected"] = True
        inputs.append(entry)
    sig: dict[str, Any] = {"inputs": inputs, "outputs": []}
    classes = getattr(model, "classes_", None)
    if classes is not None:
        sig["task"] = "classification"
        sig["classes"] = [c.item() if hasattr(c, "item") else c for c in classes]
    elif hasattr(model, "predict"):
        sig["task"] = "regression"
    if hasattr(model, "predict"):
        try:
            head = raw[:5] if isinstance(raw, np.ndarray) else sample.head(5)
            pred = np.asarray(model.predict(head))
        except Exception as exc:
            raise InvalidInput(f"the model cannot predict on sample_input: {exc}") from None
        sig["outputs"].append(
            {"name": "predict", "dtype": _dtype(pred), "shape": [-1, *pred.shape[1:]]}
        )
        if hasattr(model, "predict_proba"):
            sig["outputs"].append(
                {
                    "name": "predict_proba",
                    "dtype": "FP64",
                    "shape": [-1, len(sig.get("classes", []))],
                }
            )
    return sig


def _dtype(arr: np.ndarray) -> str:
    if arr.dtype.kind == "f":
        return "FP64"
    if arr.dtype.kind in "iu":
        return "INT64"
    if arr.dtype.kind == "b":
        return "BOOL"
    return "BYTES"
