"""The catalog: every model with its owner, SLA, versions, traffic and last gate result; ghosts
(versions serving without an owner, or while deprecated or retired) flagged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelyard.core.lifecycle import State
from modelyard.registry.registry import Registry


@dataclass
class CatalogEntry:
    model: str
    owner: str | None
    objective: str | None
    kpi: str | None
    sla: dict[str, Any]
    versions: list[dict[str, Any]] = field(default_factory=list)
    ghosts: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        states = {v["state"] for v in self.versions}
        if State.DEPLOYED.value in states:
            return "active"
        if states and states <= {State.RETIRED.value}:
            return "retired"
        if State.DEPRECATED.value in states:
            return "deprecated"
        return "in development"


def catalog(reg: Registry) -> list[CatalogEntry]:
    routes: dict[int, list[dict[str, Any]]] = {}
    for r in reg.store.routes():
        routes.setdefault(r["model_version_id"], []).append(r)
    out: dict[str, CatalogEntry] = {}
    for mv in reg.model_versions():
        cfg = reg.config.model(mv.model_name)
        entry = out.get(mv.model_name)
        if entry is None:
            owner = cfg.owner or mv.card.get("owner")
            entry = out[mv.model_name] = CatalogEntry(
                mv.model_name,
                owner,
                cfg.objective or mv.card.get("objective"),
                cfg.kpi or mv.card.get("kpi"),
                cfg.sla.model_dump(),
            )
        reports = [r for r in reg.store.reports_of(mv.id) if r["kind"] == "gate"]
        last_gate = reports[-1] if reports else None
        served = routes.get(mv.id, [])
        entry.versions.append(
            {
                "ref": mv.ref,
                "state": mv.state,
                "routes": [
                    {"endpoint": r["endpoint"], "role": r["role"], "weight": r["weight"]}
                    for r in served
                ],
                "last_gate": None if last_gate is None else bool(last_gate["passed"]),
                "size_bytes": mv.size_bytes,
            }
        )
        if served and not entry.owner:
            entry.ghosts.append(f"{mv.ref} serves without an owner")
        if served and mv.state in (State.DEPRECATED.value, State.RETIRED.value):
            entry.ghosts.append(f"{mv.ref} serves while {mv.state}")
    return sorted(out.values(), key=lambda e: e.model)
