"""Join feedback labels to the predictions they label.

Labels arrive before or long after their prediction reaches the prediction log. Each pass
takes the labels not joined yet and reads the logs of their endpoints (every endpoint's log
when a label does not name one), filling in version, prediction time, output and the logged
input. A label whose prediction is not in the log yet stays unjoined and is tried again on the
next pass (``monitor run`` calls :func:`join_feedback` every tick). This lives above serving
(which owns the log format) and monitoring (which reads joined labels), so neither imports
the other.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from modelyard.core.errors import InvalidInput
from modelyard.core.feedback_records import StoredLabel
from modelyard.monitoring.feedback import joined_labels, record_joins, waiting_labels
from modelyard.registry import queries
from modelyard.registry.registry import DatasetVersion, Registry
from modelyard.store.metadata import Row
from modelyard.store.prediction_log import log_sources, read_log


def _endpoints_known(reg: Registry) -> set[str]:
    """Endpoints with routes, and every endpoint with a local log folder."""
    names = queries.routed_endpoints(reg)
    for folder, _ in log_sources(reg.settings):
        path = Path(str(folder).removeprefix("file://"))
        if "://" in str(folder) and not str(folder).startswith("file://"):
            continue
        if path.is_dir():
            names.update(p.name.removeprefix("endpoint=") for p in path.iterdir() if p.is_dir())
    return names


def join_feedback(reg: Registry, limit: int | None = None, joined: list[Row] | None = None) -> int:
    """Join every label whose prediction is in the log now; returns how many were joined
    (and appends each join — endpoint, version_id, predicted_at, … — to ``joined``)."""
    waiting = waiting_labels(reg, limit)
    if not waiting:
        return 0
    endpoints = {r.endpoint for r in waiting if r.endpoint}
    if any(not r.endpoint for r in waiting):
        endpoints |= _endpoints_known(reg)
    wanted: dict[str, StoredLabel] = {r.prediction_id: r for r in waiting}
    found: dict[str, dict[str, Any]] = {}
    settled = 0  # labels matched to the answer the caller got (nothing better can come)
    for folder, options in log_sources(reg.settings):
        for endpoint in sorted(endpoints):
            if settled == len(wanted):
                break
            for entry in read_log(folder, endpoint, reg.artifacts.keyring, options or None):
                pid = entry.get("id")
                if pid not in wanted:
                    continue
                named = wanted[pid].endpoint
                if named and named != entry.get("endpoint", endpoint):
                    continue
                seen = found.get(pid)
                # a shadow answer carries the same id; the answer the caller got wins
                if seen is None or (seen.get("role") == "shadow" and entry.get("role") != "shadow"):
                    found[pid] = {**entry, "endpoint": entry.get("endpoint", endpoint)}
                    if entry.get("role") != "shadow":
                        settled += 1
                        if settled == len(wanted):
                            break
    if not found:
        return 0
    joins = [
        {
            "prediction_id": pid,
            "endpoint": e["endpoint"],
            "version_id": int(e["version_id"]),
            "predicted_at": _when(e["at"]),
            "output": e.get("output") or {},
            "input": e.get("input"),
        }
        for pid, e in found.items()
    ]
    count = record_joins(reg, joins)
    if joined is not None:
        joined.extend(joins)
    return count


def _when(value: Any) -> dt.datetime:
    at = dt.datetime.fromisoformat(str(value))
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def export_feedback(
    reg: Registry, endpoint: str, dataset: str, label_column: str | None = None
) -> tuple[DatasetVersion, dict[str, Any]]:
    """Register the endpoint's labelled, logged inputs (one row per predicted row, plus the
    label column) as a version of ``dataset``; its ``source`` is the lineage (JSON)."""
    import pandas as pd

    column = label_column or reg.config.dataset(dataset).target or "label"
    rows = joined_labels(reg, endpoint)
    records: list[dict[str, Any]] = []
    used: list[StoredLabel] = []
    for r in rows:
        inputs = r.input if isinstance(r.input, list) else []
        labels = r.label if isinstance(r.label, list) else [r.label]
        if not inputs or len(inputs) != len(labels):
            continue
        for rec, label in zip(inputs, labels, strict=True):
            if column in rec:
                raise InvalidInput(
                    f"the label column {column!r} is also a model input",
                    hint="name the label column with --label-column",
                )
            records.append({**rec, column: label})
        used.append(r)
    if not records:
        raise InvalidInput(
            f"endpoint {endpoint!r} has no labelled predictions with a logged input "
            f"({len(rows)} joined labels in all)",
            hint="raise endpoints.<name>.prediction_log.input_sample so inputs are logged",
        )
    versions = sorted(
        {r.version_id for r in used if r.version_id is not None},
    )
    refs = []
    for vid in versions:
        mv = queries.version_by_id(reg, vid)
        refs.append(f"{mv.model_name}@{mv.version}")
    lineage = {
        "kind": "feedback",
        "endpoint": endpoint,
        "versions": refs,
        "predictions": len(used),
        "labels_without_input": len(rows) - len(used),
        "from": min(_predicted_at(r) for r in used).isoformat(),
        "to": max(_predicted_at(r) for r in used).isoformat(),
        "label_column": column,
    }
    ds = reg.add_dataset(pd.DataFrame(records), dataset, source=json.dumps(lineage, sort_keys=True))
    return ds, lineage


def _predicted_at(label: StoredLabel) -> dt.datetime:
    """When a joined label's prediction was made (every joined label has it)."""
    assert label.predicted_at is not None
    return label.predicted_at


__all__ = ["export_feedback", "join_feedback"]
