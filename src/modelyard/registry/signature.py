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
    sig: dict[str, Any] = {
        "inputs": inputs,
        "outputs": [],
        "input_policy": input_policy(model, inputs),
    }
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


# transformers that map each input column to itself, in place (imputers without indicators
# append their indicator columns after the originals, which keeps them in place too)
_COLUMNWISE = {"SimpleImputer", "KNNImputer", "IterativeImputer"}

# encoders that answer a category they were not fitted on (instead of raising)
_TOLERANT = {
    "OneHotEncoder": ("ignore", "infrequent_if_exist", "warn"),
    "OrdinalEncoder": ("use_encoded_value",),
}


def _handlers(model: Any, columns: list[str] | None) -> list[tuple[Any, list[str] | None]]:
    """(encoder, the input columns it reads; None: all) for the encoders inside a fitted
    scikit-learn pipeline, column transformer or estimator."""
    name = type(model).__name__
    if name == "Pipeline":
        # the encoder may follow steps that keep each input column in place (an imputer, as
        # in the usual impute-then-one-hot sub-pipeline): look past those, and no further
        for step in (s for _, s in model.steps if s not in (None, "passthrough")):
            found = _handlers(step, columns)
            if found or type(step).__name__ not in _COLUMNWISE:
                return found
        return []
    if name == "ColumnTransformer":
        names = [str(n) for n in getattr(model, "feature_names_in_", [])]
        indices = getattr(model, "_transformer_to_input_indices", {})
        out: list[tuple[Any, list[str] | None]] = []
        for tname, trans, cols in getattr(model, "transformers_", []):
            if trans in ("drop", "passthrough"):
                continue
            if isinstance(cols, list) and all(isinstance(c, str) for c in cols):
                picked: list[str] | None = list(cols)
            elif tname in indices and names:
                picked = [names[i] for i in indices[tname]]
            else:
                picked = None
            out += _handlers(trans, picked)
        return out
    if name in _TOLERANT or name == "TargetEncoder":
        return [(model, columns)]
    if (
        name.startswith("HistGradientBoosting")
        and getattr(model, "is_categorical_", None) is not None
    ):
        return [(model, columns)]  # native categories: an unknown one goes the missing way
    return []


def _tolerant(encoder: Any) -> bool:
    name = type(encoder).__name__
    if name == "TargetEncoder" or name.startswith("HistGradientBoosting"):
        return True
    return getattr(encoder, "handle_unknown", "error") in _TOLERANT.get(name, ())


def input_policy(model: Any, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The unseen-category policy this fitted model supports: ``pass`` when every categorical
    input reaches an encoder that handles unknown values, else ``reject`` (with the reason)."""
    # a boolean has no third value (the type check refuses one), whatever reads it
    cats = [i["name"] for i in inputs if i.get("categories") and i.get("type") != "boolean"]
    policy: dict[str, Any] = {"unseen_categories": "reject", "extra_fields": "reject"}
    if not cats:
        policy["why"] = "no categorical inputs with known categories"
        return policy
    handlers = _handlers(model, None)
    covered: set[str] = set()
    for encoder, cols in handlers:
        if _tolerant(encoder):
            covered |= set(cats if cols is None else cols)
    lacking = [c for c in cats if c not in covered]
    if lacking:
        policy["why"] = (
            "no encoder that handles unknown values reads " + ", ".join(lacking[:5])
            if handlers
            else "the model's encoders cannot be inspected"
        )
        return policy
    policy["unseen_categories"] = "pass"
    policy["why"] = "every categorical input is encoded with handle_unknown"
    return policy
