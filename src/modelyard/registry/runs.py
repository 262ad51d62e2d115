"""Training runs: a context manager that records lineage by itself while the script trains."""

from __future__ import annotations

import datetime as dt
import math
import random
import time
import traceback
import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.core.errors import Conflict, InvalidInput
from modelyard.core.identity import Actor
from modelyard.core.records import DatasetVersion, ModelVersion
from modelyard.core.settings import Settings
from modelyard.registry import environment
from modelyard.store.artifacts import PutResult
from modelyard.store.metadata import MetadataStore

if TYPE_CHECKING:
    import pandas as pd


class Recorder(Protocol):
    """What a run records through (the registry): its store, settings and actor, and the
    registration of datasets and models."""

    settings: Settings
    actor: Actor
    store: MetadataStore

    def packages_artifact(self) -> PutResult: ...

    def dataset(self, ref: str) -> DatasetVersion: ...

    def add_dataset(self, data: pd.DataFrame, name: str) -> DatasetVersion: ...

    def register_model(
        self,
        model: Any,
        name: str,
        sample_input: Any = None,
        trust: bool = False,
        run_id: str | None = None,
    ) -> ModelVersion: ...


CPU_METRIC = "cpu_seconds"  # recorded on every run when it ends (training cost)


def _clean_param(key: str, value: Any) -> Any:
    if not isinstance(key, str) or not key or len(key) > 250:
        raise InvalidInput(f"invalid param name {key!r}: expected a non-empty string ≤ 250 chars")
    return _json_value(value, key)


def _json_value(value: Any, where: str) -> Any:
    """``value`` as JSON keeps it: lists stay lists, dicts dicts, ints ints and floats floats, so
    training code reads back what it logged. NumPy scalars and arrays become their Python
    values; anything else JSON has no type for is recorded as its text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(
                f"param {where!r} is {value!r}: expected a finite number (JSON has no NaN or "
                "infinity)",
                hint="log it as a string if the run really used it",
            )
        return value
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # NumPy scalars and arrays
        return _json_value(value.tolist(), where)
    if isinstance(value, list | tuple):
        return [_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInput(
                    f"param {where!r} has the key {k!r} ({type(k).__name__}): expected string "
                    "keys, as JSON objects have"
                )
            out[k] = _json_value(v, f"{where}.{k}")
        return out
    return str(value)


class Run:
    """One training run. Use as ``with registry.start_run(model=...) as run:``."""

    def __init__(
        self,
        registry: Recorder,
        model: str,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        self.registry = registry
        self.model = model
        self.id = uuid.uuid4().hex
        self.seed = seed
        self.params: dict[str, Any] = {}
        self._initial_params = params or {}
        self.status = "created"
        self.model_versions: list[ModelVersion] = []
        self._cpu_start: float | None = None

    # ---- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> Run:
        self._cpu_start = time.process_time()
        reg = self.registry
        cwd = reg.settings.project_dir
        git = environment.git_state(cwd)
        lock_path, lock_hash = environment.lock_file(cwd)
        pkgs = reg.packages_artifact()
        env = {
            "git": git,
            "lock_file": lock_path,
            "lock_sha256": lock_hash,
            "packages_digest": pkgs.digest,
            "packages_count": len(environment.installed_packages()),
            **environment.interpreter(),
        }
        if self.seed is not None:
            random.seed(self.seed)
            try:
                import numpy as np

                np.random.seed(self.seed % 2**32)
            except ImportError:  # pragma: no cover
                pass
        reg.store.runs.create(
            {
                "id": self.id,
                "model_name": self.model,
                "status": "running",
                "params": {},
                "seed": self.seed,
                "environment": env,
                "created_by": reg.settings.user,
                "principal": reg.actor.principal,
                "started_at": dt.datetime.now(dt.UTC),
            },
            artifact=(pkgs.digest, pkgs.size, "packages"),
        )
        self.status = "running"
        if self._initial_params:
            self.log_params(self._initial_params)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.status = "finished"
            error = None
        else:
            self.status = "killed" if isinstance(exc, KeyboardInterrupt) else "failed"
            error = "".join(traceback.format_exception(exc_type, exc, tb))[-8000:]
        if self._cpu_start is not None:
            # training cost: the process's CPU time (all threads) from run start to end
            cpu = time.process_time() - self._cpu_start
            row = {"key": CPU_METRIC, "value": cpu, "step": 0, "at": dt.datetime.now(dt.UTC)}
            self.registry.store.runs.log_metrics(self.id, [row])
        self.registry.store.runs.update(
            self.id, status=self.status, ended_at=dt.datetime.now(dt.UTC), error=error
        )

    def _require_running(self) -> None:
        if self.status != "running":
            raise Conflict(f"run {self.id[:8]} is {self.status}; log inside its `with` block")

    # ---- logging ---------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: dict[str, Any]) -> None:
        self._require_running()
        changed = False
        for key, value in params.items():
            v = _clean_param(key, value)
            if key in self.params and self.params[key] != v:
                raise Conflict(
                    f"param {key!r} is already {self.params[key]!r} in this run; params are "
                    f"immutable (got {v!r})",
                    hint="log a metric, or start a new run for a new value",
                )
            if key not in self.params:
                self.params[key] = v
                changed = True
        if changed:
            self.registry.store.runs.update(self.id, params=dict(self.params))

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        self.log_metrics({key: value}, step=step)

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        self._require_running()
        at = dt.datetime.now(dt.UTC)
        rows = []
        for key, value in metrics.items():
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise InvalidInput(f"metric {key!r} must be a number, got {value!r}") from None
            if math.isnan(v):
                raise InvalidInput(f"metric {key!r} is NaN; log a number")
            rows.append({"key": str(key), "value": v, "step": int(step), "at": at})
        self.registry.store.runs.log_metrics(self.id, rows)

    def use_dataset(
        self,
        data: str | DatasetVersion | pd.DataFrame,
        role: str = "train",
        name: str | None = None,
    ) -> DatasetVersion:
        """Declare an input dataset (a ``NAME@VERSION`` reference, a version, or a DataFrame
        that is registered on the fly under ``name``)."""
        self._require_running()
        if isinstance(data, DatasetVersion):
            ds = data
        elif isinstance(data, str):
            ds = self.registry.dataset(data)
        else:
            if not name:
                raise InvalidInput("use_dataset(DataFrame) needs name= to register it under")
            ds = self.registry.add_dataset(data, name=name)
        self.registry.store.runs.add_input(self.id, ds.id, role)
        return ds

    def log_model(
        self,
        model: Any,
        sample_input: Any = None,
        *,
        name: str | None = None,
        trust: bool = False,
    ) -> ModelVersion:
        self._require_running()
        mv = self.registry.register_model(
            model,
            name=name or self.model,
            sample_input=sample_input,
            trust=trust,
            run_id=self.id,
        )
        self.model_versions.append(mv)
        return mv
