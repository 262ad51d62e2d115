"""Convert a model version to ONNX Runtime, check parity, register it as a derived version.

The conversion (skl2onnx, probabilities as a plain tensor) is accepted only if, on validation
data (the version's recorded training data, else rows built from the model's statistics), the
ONNX graph's labels equal scikit-learn's wherever the decision is not within ``tolerance`` of a
tie, and its probabilities are within ``tolerance``. ONNX Runtime computes in float32, hence a
tolerance rather than equality. The new version records its parent (lineage) and the parity
result as a ``conversion`` report, and starts ``proposed``: it passes the gates like any other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.core.errors import InvalidInput
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.serving.compiled import parity_rows
from modelyard.serving.frames import Frame
from modelyard.serving.loading import ModelPool
from modelyard.serving.runtime import OnnxRuntime
from modelyard.serving.schema import InputSchema


@dataclass
class Conversion:
    source: ModelVersion
    derived: ModelVersion | None
    summary: dict[str, Any]


def convert_to_onnx(reg: Registry, ref: str, tolerance: float = 1e-4) -> Conversion:
    try:
        import onnxruntime
        from skl2onnx import to_onnx
    except ImportError:  # pragma: no cover - optional extra
        raise InvalidInput(
            "ONNX conversion needs the 'onnx' extra", hint="pip install 'modelyard[onnx]'"
        ) from None
    mv = reg.model_version(ref)
    if mv.flavor != "sklearn":
        raise InvalidInput(f"{mv.ref} is a {mv.flavor} model; only scikit-learn models convert")
    model = reg.load_model(mv)
    schema = InputSchema.from_signature(mv.signature, getattr(model, "n_features_in_", None))
    if not schema.numeric:
        raise InvalidInput(f"{mv.ref} has non-numeric inputs; ONNX conversion takes numeric ones")
    X = ModelPool(reg)._validation(mv, schema)
    if X is None or not len(X):
        X = parity_rows(model, schema.width)
    X32 = X.astype(np.float32)
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    classifier = hasattr(final, "classes_")
    options = {id(final): {"zipmap": False}} if classifier else None
    try:
        onx = to_onnx(model, X32[:1], options=options)
    except Exception as exc:  # skl2onnx raises many kinds for unsupported models
        raise InvalidInput(f"{mv.ref} cannot be converted to ONNX: {exc}") from None
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    runtime = OnnxRuntime(session)
    frame = Frame(len(X32), schema.names, matrix=X32.astype(np.float64))
    got = runtime.run(frame, frozenset(runtime.outputs))
    import pandas as pd

    ref_in: Any = pd.DataFrame(frame.matrix, columns=list(schema.names))
    if not hasattr(model, "feature_names_in_"):
        ref_in = frame.matrix
    summary: dict[str, Any] = {"rows": len(X32), "tolerance": tolerance, "runtime": "onnxruntime"}
    passed = True
    if classifier:
        want_p = np.asarray(model.predict_proba(ref_in))
        diff = float(np.max(np.abs(got["predict_proba"] - want_p)))
        top2 = np.sort(want_p, axis=1)[:, -2:]
        clear = (top2[:, 1] - top2[:, 0]) > tolerance
        labels_differ = int(np.sum((got["predict"] != model.predict(ref_in)) & clear))
        summary |= {"max_proba_diff": diff, "labels_differing": labels_differ}
        passed = diff <= tolerance and labels_differ == 0
    else:
        want = np.asarray(model.predict(ref_in), dtype=np.float64)
        diff = float(np.max(np.abs(got["predict"].ravel() - want.ravel())))
        scale = float(np.max(np.abs(want))) or 1.0
        summary |= {"max_abs_diff": diff, "max_rel_diff": diff / scale}
        passed = diff / scale <= tolerance
    one = frame.matrix[:1] if frame.matrix is not None else X[:1]
    t_onnx = _best(lambda: session.run(None, {runtime.input_name: one.astype(np.float32)}))
    t_sk = _best(lambda: model.predict(ref_in[:1] if hasattr(ref_in, "iloc") else one))
    summary |= {"latency_1_row_us": {"onnxruntime": t_onnx * 1e6, "sklearn": t_sk * 1e6}}
    summary["speedup_1_row"] = t_sk / t_onnx if t_onnx else None
    summary["passed"] = passed
    if not passed:
        return Conversion(mv, None, summary)
    sample = pd.DataFrame(X[:5], columns=list(schema.names))
    derived = reg.register_model(
        onx,
        mv.model_name,
        sample_input=sample,
        parent=mv,
        run_id=mv.run_id,
        reason=f"converted from {mv.ref} to ONNX Runtime (parity checked on {len(X32)} rows)",
    )
    reg.store.reports.add(
        {
            "model_version_id": derived.id,
            "kind": "conversion",
            "passed": True,
            "summary": {**summary, "parent": mv.ref},
            "created_by": reg.settings.user,
        }
    )
    return Conversion(mv, derived, summary)


def _best(fn: Any, repeat: int = 50) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
