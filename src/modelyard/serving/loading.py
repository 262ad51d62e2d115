"""Loading model versions: fetch, deserialise, compile, measure — off the event loop.

``ModelPool.load`` runs on a worker thread (the refresher calls it through ``to_thread``): it
loads the artifact through the registry (digest verified), compiles the schema and the lean
runtime (parity-checked on the version's recorded training data when there is some), and
measures one-row and full-batch cost to decide whether the batcher runs it inline on the
event loop or on the version's own worker thread. A version that fails to load (corrupt
artifact, missing flavour package, an exception while deserialising) raises here; the plan
(``plan.ServingState``) marks it not ready and retries it with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.core.errors import ModelyardError
from modelyard.core.input_policy import effective
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.serving.explain import tree_explainer
from modelyard.serving.frames import Frame
from modelyard.serving.predictor import VersionInfo
from modelyard.serving.runtime import Runtime, build_runtime, measure
from modelyard.serving.schema import InputSchema

log = logging.getLogger("modelyard.serving")
INLINE_BUDGET_S = 0.001  # a full batch cheaper than this runs on the event loop
RETIRE_GRACE_S = 30.0  # unreferenced versions keep their worker this long


@dataclass
class Loaded:
    info: VersionInfo
    schema: InputSchema
    runtime: Runtime
    inline: bool
    executor: ThreadPoolExecutor | None
    cost_1_s: float = 0.0
    model: Any = None  # the deserialised model
    tree: Any = None  # its TreeSHAP explanation when it is a tree ensemble (built lazily)


def info_of(mv: ModelVersion) -> VersionInfo:
    return VersionInfo(mv.id, mv.model_name, mv.version, mv.state, mv.flavor, mv.signature)


class ModelPool:
    """Loaded versions by id, shared by all endpoints of this process."""

    def __init__(self, reg: Registry, *, compile_paths: bool = True, max_rows: int = 256) -> None:
        self.reg = reg
        self.compile_paths = compile_paths
        self.max_rows = max_rows
        self.loaded: dict[int, Loaded] = {}

    def load(self, mv: ModelVersion) -> Loaded:
        """Load, compile and measure one version (blocking: call from a worker thread)."""
        found = self.loaded.get(mv.id)
        if found is not None:
            return found
        model = self.reg.load_model(mv)
        n_features = getattr(model, "n_features_in_", None)
        policy = effective(mv.signature, self.reg.config.model(mv.model_name).inputs)
        schema = InputSchema.from_signature(mv.signature, n_features, policy)
        validation = self._validation(mv, schema)
        runtime = build_runtime(model, mv.flavor, schema, validation, self.compile_paths)
        inline, cost = False, 0.0
        if schema.numeric:
            X = validation if validation is not None and len(validation) else None
            if X is None:
                X = np.zeros((1, schema.width))
            one = Frame(1, schema.names, matrix=np.ascontiguousarray(X[:1]))
            full_x = np.resize(X, (self.max_rows, schema.width))
            full = Frame(self.max_rows, schema.names, matrix=full_x)
            want = frozenset(runtime.outputs)
            try:
                cost = measure(lambda: runtime.run(one, want))
                inline = measure(lambda: runtime.run(full, want), 3) < INLINE_BUDGET_S
            except Exception as exc:  # a model that cannot predict its own sample still serves
                log.warning(
                    "warm-up prediction failed", extra={"model_version": mv.ref, "error": str(exc)}
                )
        executor = None if inline else ThreadPoolExecutor(1, thread_name_prefix=f"model-{mv.ref}")
        tree = tree_explainer(model, schema.names)
        loaded = Loaded(info_of(mv), schema, runtime, inline, executor, cost, model, tree)
        self.loaded[mv.id] = loaded
        log.info(
            "model version loaded",
            extra={
                "model_version": mv.ref,
                "runtime": runtime.kind,
                "mode": "inline" if inline else "worker",
                "predict_1_row_us": round(cost * 1e6, 1),
            },
        )
        return loaded

    def _validation(self, mv: ModelVersion, schema: InputSchema) -> np.ndarray | None:
        """Rows of the version's recorded training data, for parity checks and warm-up."""
        if not schema.numeric or not mv.run_id:
            return None
        try:
            for row in self.reg.store.runs.inputs(mv.run_id):
                df = self.reg.load_dataset(row.dataset)
                if set(schema.names) <= set(df.columns):
                    X = df[list(schema.names)].head(512).to_numpy(dtype=np.float64)
                    finite: np.ndarray = X[np.isfinite(X).all(axis=1)]
                    return finite
        except (ModelyardError, ValueError, TypeError, KeyError):
            return None
        return None

    def retire(self, keep: set[int]) -> None:
        loop = asyncio.get_running_loop()
        for vid in [v for v in self.loaded if v not in keep]:
            gone = self.loaded.pop(vid)
            if gone.executor is not None:
                loop.call_later(RETIRE_GRACE_S, gone.executor.shutdown, False)
