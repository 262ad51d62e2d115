"""What the adapters and workflows read about one project: endpoint routes and their generation,
model versions by id, training runs, transitions, gate reports and audit entries.

Functions taking a ``Registry``; each answers one question over the registry's store, so that
nothing above the services reaches into the repositories itself.
"""

from __future__ import annotations

from modelyard.core.operations_records import AuditEntry
from modelyard.core.records import (
    DatasetVersion,
    MetricPoint,
    ModelVersion,
    ReportRecord,
    Route,
    RunInput,
    RunRecord,
    Transition,
)
from modelyard.registry.registry import Registry


def routes(reg: Registry, endpoint: str | None = None) -> list[Route]:
    """The routes of one endpoint (or of all of them): which version takes which role."""
    return reg.store.routes.all(endpoint)


def routed_endpoints(reg: Registry) -> set[str]:
    """The endpoints that have at least one route."""
    return {r.endpoint for r in reg.store.routes.all()}


def dataset(reg: Registry, name: str, version: int | None = None) -> DatasetVersion:
    """The dataset version ``name``@``version`` (the newest when ``version`` is None)."""
    return reg.store.datasets.get(name, version)


def route_generation(reg: Registry, endpoint: str) -> int:
    """How many times the endpoint's plan (routes or overrides) has changed; 0 = never set."""
    return reg.store.routes.generation(endpoint)


def version_by_id(reg: Registry, version_id: int) -> ModelVersion:
    """The model version with this database id (routes and reports name versions by id)."""
    return reg.store.versions.by_id(version_id)


def transitions(reg: Registry, version_id: int) -> list[Transition]:
    """The version's lifecycle history, oldest first."""
    return reg.store.versions.transitions_of(version_id)


def reports(reg: Registry, version_id: int) -> list[ReportRecord]:
    """The gate (and shadow) reports recorded for a version, oldest first."""
    return reg.store.reports.of(version_id)


def runs(reg: Registry, model: str | None = None, limit: int = 100) -> list[RunRecord]:
    """The newest training runs (of one model, or all)."""
    return reg.store.runs.all(model, limit)


def run(reg: Registry, run_id: str) -> RunRecord:
    """One training run by id."""
    return reg.store.runs.get(run_id)


def run_metrics(reg: Registry, run_id: str) -> list[MetricPoint]:
    """Every metric point a run logged."""
    return reg.store.runs.metrics(run_id)


def run_inputs(reg: Registry, run_id: str) -> list[RunInput]:
    """The dataset versions a run read, with their role (train, eval, ...)."""
    return reg.store.runs.inputs(run_id)


def run_outputs(reg: Registry, run_id: str) -> list[ModelVersion]:
    """The model versions a run registered."""
    return reg.store.versions.of_run(run_id)


def audit_entries(reg: Registry, target_prefix: str, action: str | None = None) -> list[AuditEntry]:
    """The audit entries about targets starting with ``target_prefix`` (e.g.
    ``endpoint:fraud``), optionally of one action, oldest first."""
    return reg.store.chain.entries(target_prefix=target_prefix, action=action)
