"""Lineage: walk from a model version back to its run, code and data, and from data forward."""

from __future__ import annotations

import datetime as dt
from typing import Any

from modelyard.core.records import MetricPoint, ModelVersion
from modelyard.core.refs import parse_ref
from modelyard.registry.registry import Registry


def _ts(value: dt.datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def model_lineage(reg: Registry, ref: str) -> dict[str, Any]:
    mv = reg.model_version(ref)
    store = reg.store
    graph: dict[str, Any] = {
        "model_version": _version_node(mv),
        "run": None,
        "datasets": [],
        "reports": [],
        "deployments": [],
        "transitions": [],
        "parent": None,
    }
    if mv.run_id:
        run = store.runs.get(mv.run_id)
        env = run.environment
        graph["run"] = {
            "id": run.id,
            "status": run.status,
            "created_by": run.created_by,
            "started_at": _ts(run.started_at),
            "ended_at": _ts(run.ended_at),
            "params": run.params,
            "seed": run.seed,
            "metrics": _last_metrics(store.runs.metrics(run.id)),
            "code": env.get("git"),
            "lock_sha256": env.get("lock_sha256"),
            "lock_file": env.get("lock_file"),
            "packages_digest": env.get("packages_digest"),
            "python": env.get("python"),
            "platform": env.get("platform"),
        }
        graph["datasets"] = [
            {
                "ref": i.dataset.ref,
                "role": i.role,
                "digest": i.dataset.digest,
                "rows": i.dataset.n_rows,
                "columns": i.dataset.n_cols,
            }
            for i in store.runs.inputs(run.id)
        ]
    if mv.parent_id:
        parent = store.versions.by_id(mv.parent_id)
        graph["parent"] = parent.ref
    graph["reports"] = [
        {
            "id": r.id,
            "kind": r.kind,
            "passed": r.passed,
            "json_digest": r.artifact_digest,
            "html_digest": r.html_digest,
            "created_at": _ts(r.created_at),
        }
        for r in store.reports.of(mv.id)
    ]
    graph["deployments"] = [
        {"endpoint": r.endpoint, "role": r.role, "weight": r.weight}
        for r in store.routes.all()
        if r.model_version_id == mv.id
    ]
    graph["transitions"] = [
        {
            "from": t.from_state,
            "to": t.to_state,
            "actor": t.actor,
            "reason": t.reason,
            "at": _ts(t.at),
        }
        for t in store.versions.transitions_of(mv.id)
    ]
    return graph


def dataset_lineage(reg: Registry, ref: str) -> dict[str, Any]:
    r = parse_ref(ref, "dataset")
    ds = reg.store.datasets.get(r.name, r.version)
    runs = []
    for use in reg.store.runs.using_dataset(ds.id):
        run = use.run
        runs.append(
            {
                "id": run.id,
                "model": run.model_name,
                "role": use.role,
                "status": run.status,
                "started_at": _ts(run.started_at),
                "model_versions": [v.ref for v in reg.store.versions.of_run(run.id)],
            }
        )
    return {
        "dataset": {
            "ref": ds.ref,
            "digest": ds.digest,
            "rows": ds.n_rows,
            "columns": ds.n_cols,
            "source": ds.source,
        },
        "runs": runs,
    }


def _version_node(mv: ModelVersion) -> dict[str, Any]:
    return {
        "ref": mv.ref,
        "state": mv.state,
        "flavor": mv.flavor,
        "artifact_digest": mv.artifact_digest,
        "size_bytes": mv.size_bytes,
        "trusted": mv.trusted,
        "owner": mv.card.get("owner"),
        "objective": mv.card.get("objective"),
        "kpi": mv.card.get("kpi"),
        "sla": mv.card.get("sla"),
        "created_by": mv.created_by,
        "created_at": _ts(mv.created_at),
    }


def _last_metrics(rows: list[MetricPoint]) -> dict[str, float]:
    out: dict[str, tuple[int, float]] = {}
    for r in rows:
        if r.key not in out or r.step >= out[r.key][0]:
            out[r.key] = (r.step, r.value)
    return {k: v for k, (_s, v) in sorted(out.items())}
