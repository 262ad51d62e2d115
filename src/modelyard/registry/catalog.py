"""The catalog: every model with its owner, SLA, versions, traffic and last gate result; ghosts
(versions serving without an owner, or while deprecated or retired) flagged; the cost of each
version by stage; retirement proposals on record.

Cost per version: training CPU-seconds (the run's ``cpu_seconds`` metric), stored bytes (the
model artifact plus the datasets its run recorded) and inference CPU-seconds per 1,000
predictions (from the monitoring windows' ``cpu_s`` and request counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelyard.core.lifecycle import State
from modelyard.core.records import ModelVersion, Route
from modelyard.registry.registry import Registry
from modelyard.store.windows import WindowStore

PROPOSAL_ACTION = "lifecycle.retirement_proposed"
TRUST_ACTION = "model.trust"
CPU_METRIC = "cpu_seconds"


@dataclass
class CatalogEntry:
    model: str
    owner: str | None
    objective: str | None
    kpi: str | None
    sla: dict[str, Any]
    versions: list[dict[str, Any]] = field(default_factory=list)
    ghosts: list[str] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=dict)  # totals over the versions
    proposals: list[dict[str, Any]] = field(default_factory=list)  # retirement, on record

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


def version_cost(
    reg: Registry, mv: ModelVersion, sizes: dict[str, int] | None = None
) -> dict[str, Any]:
    """Cost of one version by stage: training, storage, inference."""
    if sizes is None:
        sizes = {a.digest: int(a.size_bytes) for a in reg.store.artifacts.all()}
    training = None
    data_bytes = 0
    if mv.run_id:
        cpu = [m.value for m in reg.store.runs.metrics(mv.run_id) if m.key == CPU_METRIC]
        training = float(cpu[-1]) if cpu else None
        for ds in reg.store.runs.inputs(mv.run_id):
            data_bytes += sizes.get(ds.dataset.artifact_digest, 0)
    usage = WindowStore(reg.store).usage(mv.id)
    requests, cpu_s = int(usage.requests or 0), usage.cpu_s
    per_1k = None
    if cpu_s is not None and requests:
        per_1k = float(cpu_s) / requests * 1000
    return {
        "training_cpu_s": training,
        "model_bytes": int(mv.size_bytes),
        "data_bytes": data_bytes,
        "stored_bytes": int(mv.size_bytes) + data_bytes,
        "requests": requests,
        "inference_cpu_s": None if cpu_s is None else float(cpu_s),
        "inference_cpu_s_per_1k": per_1k,
    }


def _totals(versions: list[dict[str, Any]]) -> dict[str, Any]:
    costs = [v["cost"] for v in versions]
    train = [c["training_cpu_s"] for c in costs if c["training_cpu_s"] is not None]
    infer = [c["inference_cpu_s"] for c in costs if c["inference_cpu_s"] is not None]
    requests = sum(c["requests"] for c in costs)
    return {
        "training_cpu_s": sum(train) if train else None,
        "stored_bytes": sum(c["model_bytes"] for c in costs)
        + max((c["data_bytes"] for c in costs), default=0),
        "requests": requests,
        "inference_cpu_s": sum(infer) if infer else None,
        "inference_cpu_s_per_1k": sum(infer) / requests * 1000 if infer and requests else None,
    }


def recorded_proposals(reg: Registry) -> dict[str, list[dict[str, Any]]]:
    """Retirement proposals on record (``lifecycle.retirement_proposed``) for versions that
    still serve, newest per trigger, by version ref."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for e in reg.store.chain.entries(action=PROPOSAL_ACTION):
        ref = e.target.removeprefix("model:")
        trigger = str(e.data.get("trigger"))
        out.setdefault(ref, {})[trigger] = {
            "version": ref,
            "trigger": trigger,
            "reason": e.reason,
            "at": e.at.isoformat(),
            "by": e.actor,
        }
    return {ref: list(by.values()) for ref, by in out.items()}


def trust_records(reg: Registry) -> dict[str, dict[str, Any]]:
    """Who registered which version with ``trust=True``, when, and what needed the trust, from
    the audit log's ``model.trust`` entries, by version ref."""
    return {
        e.target.removeprefix("model:"): {
            "by": e.actor,
            "at": e.at.isoformat(),
            "types": list((e.data or {}).get("types") or []),
        }
        for e in reg.store.chain.entries(action=TRUST_ACTION)
    }


def trust_of(mv: ModelVersion, records: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The trust record of one version: None when it loads under the allow-list."""
    if not mv.trusted:
        return None
    at = mv.created_at.isoformat() if hasattr(mv.created_at, "isoformat") else str(mv.created_at)
    fallback = {  # registered before trust had its own audit entry
        "by": mv.created_by,
        "at": at,
        "types": list(mv.card.get("flavor_info", {}).get("trusted_types") or []),
    }
    record = records.get(mv.ref, fallback)  # returned directly, mypy infers Any
    return record


def catalog(reg: Registry) -> list[CatalogEntry]:
    sizes = {a.digest: int(a.size_bytes) for a in reg.store.artifacts.all()}
    proposed = recorded_proposals(reg)
    trusted = trust_records(reg)
    routes: dict[int, list[Route]] = {}
    for r in reg.store.routes.all():
        routes.setdefault(r.model_version_id, []).append(r)
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
        reports = [r for r in reg.store.reports.of(mv.id) if r.kind == "gate"]
        last_gate = reports[-1] if reports else None
        served = routes.get(mv.id, [])
        entry.versions.append(
            {
                "ref": mv.ref,
                "state": mv.state,
                "routes": [
                    {"endpoint": r.endpoint, "role": r.role, "weight": r.weight} for r in served
                ],
                "last_gate": None if last_gate is None else bool(last_gate.passed),
                "trusted": trust_of(mv, trusted),
                "size_bytes": mv.size_bytes,
                "cost": version_cost(reg, mv, sizes),
            }
        )
        if mv.state in (State.DEPLOYED.value, State.DEPRECATED.value):
            entry.proposals.extend(proposed.get(mv.ref, []))
        if served and not entry.owner:
            entry.ghosts.append(f"{mv.ref} serves without an owner")
        if served and mv.state in (State.DEPRECATED.value, State.RETIRED.value):
            entry.ghosts.append(f"{mv.ref} serves while {mv.state}")
    for entry in out.values():
        entry.cost = _totals(entry.versions)
    return sorted(out.values(), key=lambda e: e.model)
