"""What a check sees: the evaluation data, the candidate, the champion and a few services.

The context is built once per gate run (by the runner, or by hand in tests and notebooks) and
caches each side's predictions on the full evaluation set, so checks do not predict twice. It
holds no registry: what needs one (storing artifacts, retraining, load testing) arrives as a
plain callable, so any check can run on a DataFrame and a fitted model alone.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.core.errors import ConfigError, InvalidInput
from modelyard.core.gate_policy import GatePolicy
from modelyard.core.input_policy import Effective, effective
from modelyard.gates.metrics import Predictions


@dataclass
class Side:
    """One model under comparison: the candidate, or the champion it must not fall behind."""

    label: str
    model: Any
    ref: str | None = None
    size_bytes: int | None = None
    signature: dict[str, Any] | None = None
    #: the columns this model reads, in its order (set by the context)
    features: list[str] = field(default_factory=list)
    _cache: Predictions | None = field(default=None, repr=False)


@dataclass
class GateContext:
    frame: pd.DataFrame
    target: str
    candidate: Side
    policy: GatePolicy = field(default_factory=GatePolicy)
    champion: Side | None = None
    features: list[str] = field(default_factory=list)
    task: str = ""
    dataset_schema: dict[str, Any] | None = None
    signature: dict[str, Any] | None = None
    project_dir: Path | None = None
    sla_p99_ms: float | None = None
    put_artifact: Callable[[bytes, str], str] | None = None
    retrain: Callable[[], tuple[Any, str | None]] | None = None
    artifact_digest: str | None = None
    load_target: dict[str, Any] = field(default_factory=dict)
    #: what unseen categories and extra fields do (default: what the signature records)
    input_policy: Effective | None = None
    # derived in __post_init__
    y: np.ndarray = field(init=False, repr=False)
    classes: tuple[Any, ...] | None = field(init=False, default=None)
    positive_label: Any = field(init=False, default=None)
    _pos_index: int = field(init=False, default=1)

    def __post_init__(self) -> None:
        if self.input_policy is None:
            self.input_policy = effective(self.signature)
        if self.target not in self.frame.columns:
            raise ConfigError(
                f"the evaluation data has no target column {self.target!r}",
                hint=f"columns are: {', '.join(map(str, self.frame.columns))}",
            )
        if not self.features:
            self.features = _features_of(self.candidate.model, self.signature, self.frame)
            self.features = [c for c in self.features if c != self.target]
        missing = [c for c in self.features if c not in self.frame.columns]
        if missing:
            raise InvalidInput(
                f"the evaluation data lacks model input columns: {', '.join(missing)}",
                hint="gate on a dataset with the same columns as the training data",
            )
        self.candidate.features = list(self.features)
        if self.champion is not None:
            # The champion may read other columns than the candidate (one that drops two
            # protected attributes, say): each model is scored on its own signature's columns.
            champ = self.champion
            champ.features = [
                c
                for c in _features_of(champ.model, champ.signature, self.frame)
                if c != self.target
            ]
            lacking = [c for c in champ.features if c not in self.frame.columns]
            if lacking:
                raise InvalidInput(
                    f"the evaluation data lacks the champion {champ.ref or ''}'s input columns: "
                    f"{', '.join(lacking)}, so the candidate cannot be compared with it",
                    hint="gate on a dataset holding the columns of both models",
                )
        classes = getattr(self.candidate.model, "classes_", None)
        if not self.task:
            self.task = "classification" if classes is not None else "regression"
        if self.task == "classification":
            if classes is None:
                raise InvalidInput("a classification gate needs a model with classes_")
            self.classes = tuple(c.item() if hasattr(c, "item") else c for c in classes)
            self._encode_target()
        else:
            self.y = pd.to_numeric(self.frame[self.target], errors="raise").to_numpy(float)

    # ---- target encoding ---------------------------------------------------------------
    @property
    def binary(self) -> bool:
        return self.task == "classification" and len(self.classes or ()) == 2

    def _encode_target(self) -> None:
        assert self.classes is not None
        raw = self.frame[self.target]
        values = {v.item() if hasattr(v, "item") else v for v in raw.dropna().unique()}
        wanted = self.policy.positive_label
        if not self.binary:
            if not values <= set(self.classes):
                raise InvalidInput(
                    f"target values {sorted(map(str, values))} are not all model classes "
                    f"{list(self.classes)}"
                )
            self.y = raw.to_numpy()
            return
        if values <= set(self.classes):
            if wanted is not None and wanted not in self.classes:
                raise ConfigError(
                    f"models.*.gates.positive_label {wanted!r} is not one of the model's "
                    f"classes {list(self.classes)}",
                    hint="name the class the model's positive predictions stand for",
                )
            pos = wanted if wanted is not None else self.classes[1]
            self._pos_index = self.classes.index(pos)
            self.positive_label = pos
            self.y = (raw == pos).to_numpy(dtype=int)
            return
        if wanted is None or wanted not in values:
            raise ConfigError(
                f"the target {self.target!r} holds {sorted(map(str, values))} but the model's "
                f"classes are {list(self.classes)}; models.*.gates.positive_label says which "
                "target value is the model's positive class",
                hint=f"set positive_label to one of: {', '.join(sorted(map(str, values)))}"
                + (
                    " (quote it: YAML reads an unquoted yes/no/true/false as a boolean)"
                    if isinstance(wanted, bool)
                    else ""
                ),
            )
        # e.g. target Yes/No, model trained on (target == "Yes") → classes [0, 1]
        self._pos_index = 1
        self.positive_label = wanted
        self.y = (raw == wanted).to_numpy(dtype=int)

    # ---- predictions -------------------------------------------------------------------
    def X(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        return (self.frame if frame is None else frame)[self.features]

    def predict(self, side: Side, frame: pd.DataFrame | None = None) -> Predictions:
        """Predictions of ``side`` on ``frame`` (default: the whole evaluation set, cached)."""
        if frame is None and side._cache is not None:
            return side._cache
        out = self.predict_raw(side.model, self.X(frame))
        if frame is None:
            side._cache = out
        return out

    def inputs_for(self, model: Any, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` (rows of the evaluation frame, possibly corrupted, in the candidate's columns)
        as ``model`` reads it: its own columns, those ``X`` lacks taken from the same rows of
        the evaluation frame."""
        side = next(
            (s for s in (self.candidate, self.champion) if s is not None and s.model is model),
            None,
        )
        if side is None or not side.features or list(X.columns) == side.features:
            return X
        lacking = [c for c in side.features if c not in X.columns]
        if lacking:
            if not self.frame.index.is_unique or not X.index.isin(self.frame.index).all():
                raise InvalidInput(
                    f"{side.label} reads columns these rows lack: {', '.join(lacking)}"
                )
            extra = self.frame.loc[X.index, lacking]  # by label: rows may repeat (cost batches)
            X = X.assign(**{c: extra[c].to_numpy() for c in lacking})
        return X[side.features]

    def predict_raw(self, model: Any, X: pd.DataFrame) -> Predictions:
        X = self.inputs_for(model, X)
        if self.task != "classification":
            return Predictions(np.asarray(model.predict(X), dtype=float))
        if hasattr(model, "predict_proba"):
            proba = np.asarray(model.predict_proba(X), dtype=float)
            if self.binary:
                p = proba[:, self._positive_index(model)]
                return Predictions((p >= self.policy.threshold).astype(int), p, self.classes)
            labels = np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)]
            return Predictions(labels, proba, self.classes)
        labels = np.asarray(model.predict(X))
        if self.binary:
            own = _classes_of(model) or self.classes or (0, 1)
            pos = own[self._positive_index(model)]
            return Predictions((labels == pos).astype(int), None, self.classes)
        return Predictions(labels, None, self.classes)

    def _positive_index(self, model: Any) -> int:
        """The positive class's column in ``model``'s own classes. A champion trained on the
        raw labels (``["Gentoo", "other"]``) and a candidate trained on ``target ==
        "Gentoo"`` (``[0, 1]``) name it differently; each is read in its own terms."""
        if model is self.candidate.model:
            return self._pos_index
        classes = _classes_of(model)
        if self.positive_label in classes:
            return classes.index(self.positive_label)
        if len(classes) == 2 and set(classes) == {0, 1}:
            return classes.index(1)  # trained on (target == positive_label)
        return self._pos_index

    # ---- schema helpers ----------------------------------------------------------------
    def column_schema(self, name: str) -> dict[str, Any]:
        for source in (
            (self.signature or {}).get("inputs", []),
            (self.dataset_schema or {}).get("columns", []),
        ):
            for col in source:
                if col.get("name") == name:
                    return dict(col)
        return {}

    def protected(self) -> list[str]:
        cols = (self.dataset_schema or {}).get("columns", [])
        return [c["name"] for c in cols if c.get("protected")]

    def is_categorical(self, name: str) -> bool:
        col = self.column_schema(name)
        if "categorical" in col:
            return bool(col["categorical"])
        if col.get("categories"):
            return True
        s = self.frame[name]
        return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)

    def load_function(self, spec: str, where: str) -> Callable[..., Any]:
        return load_function(spec, where, self.project_dir)


def _features_of(model: Any, signature: dict[str, Any] | None, frame: pd.DataFrame) -> list[str]:
    """The columns the model is scored on: its signature's inputs (what the server takes),
    else the names it was fitted on, else every column. The signature comes first because a
    model's own names can differ from the data's: LightGBM reports ``Chest_Pain`` for a model
    fitted on ``Chest Pain``."""
    inputs = (signature or {}).get("inputs") or []
    if inputs:
        return [str(i["name"]) for i in inputs]
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [str(c) for c in frame.columns]


def load_function(spec: str, where: str, project_dir: Path | None = None) -> Callable[..., Any]:
    """Import ``module:function``; the project folder is importable, like ``python -m``."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"{where}: {spec!r} is not module:function")
    added = False
    if project_dir is not None and str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
        added = True
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{where}: cannot import module {module_name!r}: {exc}",
            hint="the module must be importable from the project folder or the environment",
        ) from None
    finally:
        if added:
            sys.path.remove(str(project_dir))
    fn: object = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"{where}: {module_name} has no function {attr!r}")
    return fn


def _classes_of(model: Any) -> list[Any]:
    return [c.item() if hasattr(c, "item") else c for c in getattr(model, "classes_", ())]
