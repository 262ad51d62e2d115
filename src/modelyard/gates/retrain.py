"""Retraining from recorded lineage, for the reproducibility check.

A model declares its training entrypoint in the project file (``models.<name>.train:
module:function``; the project folder is importable). The function receives a
:class:`TrainingInputs` — the run's dataset versions loaded as DataFrames (keyed by role),
its params and its seed — and returns the fitted model, without side effects on the registry.
A training script calls the same function inside ``with reg.start_run(...)``, so the recorded
run and the retrain share one code path.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from modelyard.core.errors import ConfigError
from modelyard.gates.context import load_function
from modelyard.registry.registry import ModelVersion, Registry


@dataclass(frozen=True)
class TrainingInputs:
    datasets: dict[str, pd.DataFrame]
    refs: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None


def build_retrainer(
    reg: Registry, mv: ModelVersion, spec: str
) -> Callable[[], tuple[Any, str | None]]:
    """A callable that retrains ``mv`` from its run and returns (model, artifact digest)."""
    from modelyard.registry import flavors

    where = f"models.{mv.model_name}.train"
    if not mv.run_id:
        raise ConfigError(
            f"{mv.ref} was not registered by a training run, so its lineage cannot be replayed",
            hint="log the model with run.log_model(...) inside reg.start_run(...)",
        )
    run = reg.store.runs.get(mv.run_id)
    inputs = reg.store.runs.inputs(mv.run_id)
    fn = load_function(spec, where, reg.settings.project_dir)

    def retrain() -> tuple[Any, str | None]:
        datasets: dict[str, pd.DataFrame] = {}
        refs: dict[str, str] = {}
        for row in inputs:
            ds = row.dataset
            key = row.role if row.role not in datasets else f"{row.role}:{ds.name}"
            datasets[key] = reg.load_dataset(ds)
            refs[key] = ds.ref
        seed = run.seed
        if seed is not None:  # the same global seeding the recorded run did
            import numpy as np

            random.seed(seed)
            np.random.seed(seed % 2**32)
        model = fn(TrainingInputs(datasets, refs, dict(run.params or {}), seed))
        data, _ = flavors.detect(model, mv.trusted).dump(model)
        return model, hashlib.sha256(data).hexdigest()

    return retrain
