"""What the metadata store records, as values: one frozen dataclass per kind of row.

Pure data (no I/O): the store's repositories build these from table rows (``from_row``) and
every layer above reads their attributes. JSON adapters pick the fields they show, or turn a
record back into an object with ``dataclasses.asdict``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self


class _Record:
    """``from_row``: the dataclass from a row mapping (columns it has no field for ignored)."""

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Self:
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        return cls(**{n: row[n] for n in names if n in row})


@dataclass(frozen=True)
class DatasetVersion(_Record):
    id: int
    name: str
    version: int
    digest: str
    n_rows: int
    n_cols: int
    schema: dict[str, Any]
    profile: dict[str, Any]
    artifact_digest: str
    source: str | None
    created_by: str
    created_at: Any
    created: bool = field(default=False, compare=False)  # registered by this call

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class ModelVersion(_Record):
    id: int
    model_name: str
    version: int
    run_id: str | None
    artifact_digest: str
    flavor: str
    trusted: bool
    signature: dict[str, Any]
    size_bytes: int
    state: str
    card: dict[str, Any]
    parent_id: int | None
    created_by: str
    created_at: Any
    principal: str | None = None  # the author, by principal id (core/identity.py)

    @property
    def ref(self) -> str:
        return f"{self.model_name}@{self.version}"


@dataclass(frozen=True)
class RunRecord(_Record):
    """A training run as recorded (``registry.runs.Run`` is the live one that records it)."""

    id: str
    model_name: str
    status: str
    params: dict[str, Any]
    seed: int | None
    environment: dict[str, Any]
    created_by: str
    started_at: Any
    principal: str | None = None  # who started it, by principal id
    ended_at: Any = None
    error: str | None = None


@dataclass(frozen=True)
class MetricPoint(_Record):
    id: int
    run_id: str
    key: str
    value: float
    step: int
    at: Any


@dataclass(frozen=True)
class RunInput:
    """A dataset version a run declared, and in which role (train, test, ...)."""

    role: str
    dataset: DatasetVersion


@dataclass(frozen=True)
class DatasetUse:
    """A run that declared a dataset version, and in which role."""

    role: str
    run: RunRecord


@dataclass(frozen=True)
class Transition(_Record):
    id: int
    model_version_id: int
    from_state: str | None
    to_state: str
    actor: str
    reason: str
    at: Any


@dataclass(frozen=True)
class Route(_Record):
    """A version's place on an endpoint, with the version's name, number and state."""

    id: int
    endpoint: str
    model_version_id: int
    role: str
    weight: float
    created_at: Any
    model_name: str
    version: int
    state: str

    @property
    def ref(self) -> str:
        return f"{self.model_name}@{self.version}"


@dataclass(frozen=True)
class ReportRecord(_Record):
    """A gate (or other) report recorded for a model version."""

    id: int
    model_version_id: int
    kind: str
    passed: bool | None
    summary: dict[str, Any]
    artifact_digest: str | None
    html_digest: str | None
    created_at: Any
    created_by: str


@dataclass(frozen=True)
class ArtifactRecord(_Record):
    digest: str
    size_bytes: int
    kind: str
    created_at: Any
