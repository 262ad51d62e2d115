"""From one prediction id back to everything behind it: the logged answer (route taken, output,
the privacy-safe input copy), the model version that gave it, that version's run, data and code,
and the label posted for it.

The prediction log has no index by id: the lookup scans the logs of the endpoint named (or of
every known endpoint) and stops at the first answer the caller received. A
shadow answer carries the same id and is listed beside it, never taken for the answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import NotFound
from modelyard.core.feedback_records import StoredLabel
from modelyard.monitoring.feedback import label_of
from modelyard.registry import queries
from modelyard.registry.lineage import model_lineage
from modelyard.store.prediction_log import log_sources, read_log

if TYPE_CHECKING:
    from modelyard.registry.registry import Registry

_ANSWER_KEYS = ("id", "at", "endpoint", "version", "role", "latency_ms", "fallback_reason")


def _endpoints(reg: Registry) -> list[str]:
    names = queries.routed_endpoints(reg)
    for folder, _ in log_sources(reg.settings):
        text = str(folder)
        if "://" in text and not text.startswith("file://"):
            continue
        path = Path(text.removeprefix("file://"))
        if path.is_dir():
            names.update(p.name.removeprefix("endpoint=") for p in path.iterdir() if p.is_dir())
    return sorted(names)


def find_prediction(
    reg: Registry, prediction_id: str, endpoint: str | None = None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The logged answer the caller got for ``prediction_id`` (or None) and its shadow copies."""
    answer: dict[str, Any] | None = None
    shadows: list[dict[str, Any]] = []
    endpoints = [endpoint] if endpoint else _endpoints(reg)
    for folder, options in log_sources(reg.settings):
        for name in endpoints:
            for entry in read_log(folder, name, reg.artifacts.keyring, options or None):
                if entry.get("id") != prediction_id:
                    continue
                entry = {**entry, "endpoint": entry.get("endpoint", name)}
                if entry.get("role") == "shadow":
                    shadows.append(entry)
                elif answer is None:
                    answer = entry
            if answer is not None:
                return answer, shadows
    return answer, shadows


def prediction_lineage(
    reg: Registry, prediction_id: str, endpoint: str | None = None
) -> dict[str, Any]:
    """The whole walk back from ``prediction_id``; NotFound when no log holds it."""
    answer, shadows = find_prediction(reg, prediction_id, endpoint)
    if answer is None:
        where = f"endpoint {endpoint!r}" if endpoint else "any endpoint's log"
        raise NotFound(
            f"no logged prediction {prediction_id!r} in {where}",
            hint="predictions are logged when the endpoint's prediction_log is enabled; an id "
            "answered moments ago may still be in the server's buffer (flushed every few "
            "seconds)",
        )
    try:
        label: StoredLabel | None = label_of(reg, prediction_id)
    except NotFound:
        label = None
    model = model_lineage(reg, str(answer["version"]))
    return {
        "prediction": {
            **{k: answer.get(k) for k in _ANSWER_KEYS},
            "output": answer.get("output"),
            "input": answer.get("input"),  # as logged: sampled, PII hashed or dropped
            "input_logged": "input" in answer,
        },
        "shadow": [
            {k: s.get(k) for k in ("version", "latency_ms")} | {"output": s.get("output")}
            for s in shadows
        ],
        "feedback": None
        if label is None
        else {
            "label": label.label,
            "source": label.source,
            "received_at": label.received_at.isoformat() if label.received_at else None,
            "joined": label.version_id is not None,
        },
        **model,
    }
