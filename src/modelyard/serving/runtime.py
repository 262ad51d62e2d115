"""Runtimes: the lean predict path of one loaded model version, per flavour.

A runtime turns a validated :class:`Frame` into named outputs (``predict``, ``predict_proba``,
or an ONNX graph's outputs). It is synchronous and free of I/O; the batcher decides whether it
runs on the event loop (cheap, measured at load) or on the version's own worker thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from modelyard.serving.compiled import check_parity, compile_model, parity_rows
from modelyard.serving.frames import Frame
from modelyard.serving.schema import InputSchema

Outputs = dict[str, np.ndarray]
log = logging.getLogger("modelyard.serving")


class Runtime(Protocol):
    kind: str
    outputs: tuple[str, ...]

    def run(self, frame: Frame, want: frozenset[str]) -> Outputs: ...


class EstimatorRuntime:
    """Any object with ``predict`` (and maybe ``predict_proba``): scikit-learn and friends.

    The input is built once per batch in the form the model was fitted on: a DataFrame when it
    knows feature names (or has non-numeric inputs), else a float matrix.
    """

    kind = "estimator"

    def __init__(self, model: Any, schema: InputSchema) -> None:
        self.model = model
        self.frame_input = hasattr(model, "feature_names_in_") or not schema.numeric
        outs = ["predict"]
        if hasattr(model, "predict_proba"):
            outs.append("predict_proba")
        self.outputs: tuple[str, ...] = tuple(outs)

    def inputs(self, frame: Frame) -> Any:
        return frame.as_dataframe() if self.frame_input else frame.as_matrix()

    def call(self, X: Any, name: str) -> np.ndarray:
        return np.asarray(getattr(self.model, name)(X))

    def run(self, frame: Frame, want: frozenset[str]) -> Outputs:
        X = self.inputs(frame)
        return {name: self.call(X, name) for name in self.outputs if name in want}


class CompiledRuntime:
    """A compiled NumPy path (see ``compiled``), with scikit-learn for inputs holding NaN."""

    def __init__(self, path: Any, exact: EstimatorRuntime) -> None:
        self.path = path
        self.exact = exact
        self.kind = path.kind
        self.outputs: tuple[str, ...] = path.outputs

    def explain(self, frame: Frame) -> dict[str, object] | None:
        explain = getattr(self.path, "explain", None)
        if explain is None or frame.matrix is None or not np.isfinite(frame.matrix).all():
            return None
        with np.errstate(all="ignore"):
            result: dict[str, object] = explain(frame.matrix)
        return result

    def run(self, frame: Frame, want: frozenset[str]) -> Outputs:
        X = frame.matrix
        if X is None or not np.isfinite(X).all():
            return self.exact.run(frame, want)
        with np.errstate(all="ignore"):  # extreme but finite inputs may overflow, as in sklearn
            out: Outputs = self.path(X, want)
        return out


class BoosterRuntime:
    """A native LightGBM / XGBoost booster: ``predict`` on a float matrix."""

    kind = "booster"
    outputs: tuple[str, ...] = ("predict",)

    def __init__(self, model: Any, flavor: str) -> None:
        self.model = model
        self.flavor = flavor

    def run(self, frame: Frame, want: frozenset[str]) -> Outputs:
        X: Any = frame.as_matrix()
        if self.flavor == "xgboost" and type(self.model).__name__ == "Booster":
            import xgboost

            X = xgboost.DMatrix(X)
        return {"predict": np.asarray(self.model.predict(X))}


class OnnxRuntime:
    """An ONNX Runtime session: one float32 input, the graph's outputs by name.

    skl2onnx's ``label`` / ``probabilities`` / ``variable`` are answered as ``predict`` /
    ``predict_proba`` / ``predict``, so a converted version is a drop-in for its parent.
    """

    kind = "onnxruntime"
    RENAME = {"label": "predict", "probabilities": "predict_proba", "variable": "predict"}

    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        graph = [o.name for o in session.get_outputs()]
        self.graph_name = {self.RENAME.get(g, g): g for g in graph}
        self.outputs = tuple(self.graph_name)

    def run(self, frame: Frame, want: frozenset[str]) -> Outputs:
        X = frame.as_matrix().astype(np.float32)
        names = [n for n in self.outputs if n in want]
        values = self.session.run([self.graph_name[n] for n in names], {self.input_name: X})
        out: Outputs = {}
        for name, v in zip(names, values, strict=True):
            if isinstance(v, list):  # ZipMap: list of {class: prob}
                keys = sorted(v[0]) if v else []
                v = np.array([[row[k] for k in keys] for row in v])
            out[name] = np.asarray(v)
        return out


def build_runtime(
    model: Any,
    flavor: str,
    schema: InputSchema,
    validation: np.ndarray | None,
    compile_paths: bool = True,
) -> Runtime:
    if flavor == "onnx":
        return OnnxRuntime(model)
    if flavor in ("lightgbm", "xgboost") and not hasattr(model, "predict_proba"):
        return BoosterRuntime(model, flavor)
    exact = EstimatorRuntime(model, schema)
    if not compile_paths or not schema.numeric:
        return exact
    path = compile_model(model)
    if path is None:
        return exact
    X = validation if validation is not None else parity_rows(model, schema.width)
    X = X[np.isfinite(X).all(axis=1)] if len(X) else X

    def reference(A: np.ndarray, name: str) -> np.ndarray:
        return exact.call(exact.inputs(Frame(len(A), schema.names, matrix=A)), name)

    try:
        problem = check_parity(path, reference, X, path.outputs)
    except (ValueError, IndexError, FloatingPointError) as exc:  # pragma: no cover
        problem = str(exc)
    if problem:
        log.warning("compiled path disagrees with the model (%s); using the model", problem)
        return exact
    return CompiledRuntime(path, exact)


def measure(run: Callable[[], Any], repeat: int = 5) -> float:
    """Best-of-``repeat`` wall time of ``run`` in seconds (warms caches as it goes)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best
