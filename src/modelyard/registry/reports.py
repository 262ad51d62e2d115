"""Recording a report against a model version (a gate report, a shadow comparison): the row
that names its JSON and HTML artifacts, written and audited by the reports repository."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelyard.registry.registry import Registry


def record_report(reg: Registry, values: Mapping[str, Any]) -> int:
    """Record a report (``model_version_id``, ``kind``, ``passed``, ``summary``, the artifact
    digests, ``created_by``); its id."""
    return reg.store.reports.add(values)
