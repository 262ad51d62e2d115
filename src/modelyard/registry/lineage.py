"""Lineage: walk from a model version back to its run, code and data, and from data forward."""

from __future__ import annotations

import datetime as dt
from typing import Any

from modelyard.core.refs import parse_ref
from modelyard.registry.registry import ModelVersion, Registry


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
        run = store.get_run(mv.run_id)
        env = run["environment"]
        graph["run"] = {
            "id": run["id"],
            "status": run["status"],
            "created_by": run["created_by"],
            "started_at": _ts(run["started_at"]),
            "ended_at": _ts(run["ended_at"]),
            "params": run["params"],
            "seed": run["seed"],
            "metrics": _last_metrics(store.run_metrics(run["id"])),
            "code": env.get("git"),
            "lock_sha256": env.get("lock_sha256"),
            "lock_file": env.get("lock_file"),
            "packages_digest": env.get("packages_digest"),
            "python": env.get("python"),
            "platform": env.get("platform"),
        }
        graph["datasets"] = [
            {
                "ref": f"{d['name']}@{d['version']}",
                "role": d["role"],
                "digest": d["digest"],
                "rows": d["n_rows"],
                "columns": d["n_cols"],
            }
            for d in store.run_inputs(run["id"])
        ]
    if mv.parent_id:
        parent = store.get_model_version_by_id(mv.parent_id)
        graph["parent"] = f"{parent['model_name']}@{parent['version']}"
    graph["reports"] = [
        {
            "id": r["id"],
            "kind": r["kind"],
            "passed": r["passed"],
            "json_digest": r["artifact_digest"],
            "html_digest": r["html_digest"],
            "created_at": _ts(r["created_at"]),
        }
        for r in store.reports_of(mv.id)
    ]
    graph["deployments"] = [
        {"endpoint": r["endpoint"], "role": r["role"], "weight": r["weight"]}
        for r in store.routes()
        if r["model_version_id"] == mv.id
    ]
    graph["transitions"] = [
        {
            "from": t["from_state"],
            "to": t["to_state"],
            "actor": t["actor"],
            "reason": t["reason"],
            "at": _ts(t["at"]),
        }
        for t in store.transitions_of(mv.id)
    ]
    return graph


def dataset_lineage(reg: Registry, ref: str) -> dict[str, Any]:
    r = parse_ref(ref, "dataset")
    ds = reg.store.get_dataset(r.name, r.version)
    runs = []
    for run in reg.store.runs_using_dataset(ds["id"]):
        runs.append(
            {
                "id": run["id"],
                "model": run["model_name"],
                "role": run["role"],
                "status": run["status"],
                "started_at": _ts(run["started_at"]),
                "model_versions": [
                    f"{v['model_name']}@{v['version']}"
                    for v in reg.store.versions_of_run(run["id"])
                ],
            }
        )
    return {
        "dataset": {
            "ref": f"{ds['name']}@{ds['version']}",
            "digest": ds["digest"],
            "rows": ds["n_rows"],
            "columns": ds["n_cols"],
            "source": ds["source"],
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


def _last_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, tuple[int, float]] = {}
    for r in rows:
        if r["key"] not in out or r["step"] >= out[r["key"]][0]:
            out[r["key"]] = (r["step"], r["value"])
    return {k: v for k, (_s, v) in sorted(out.items())}
