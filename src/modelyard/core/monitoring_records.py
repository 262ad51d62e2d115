"""What the monitoring tables record, as values: alert episodes, the rules' counters and the
attempts to deliver alert events (one frozen dataclass per kind of row).

Pure data (no I/O): ``store.alerts`` builds these with ``from_row``; JSON adapters turn them
back into objects with ``dataclasses.asdict``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from modelyard.core.records import _Record


@dataclass(frozen=True)
class Alert(_Record):
    """One firing episode of a rule on an endpoint (a row of ``alerts``)."""

    id: int
    endpoint: str
    rule: str
    tier: str
    state: str
    value: float | None
    message: str
    details: dict[str, Any]
    started_at: dt.datetime
    updated_at: dt.datetime
    resolved_at: dt.datetime | None
    acknowledged_by: str | None


@dataclass(frozen=True)
class AlertRuleState(_Record):
    """A rule's sustain/recover counters on an endpoint, next to the last window counted."""

    endpoint: str
    rule: str
    breaches: int
    clears: int
    last_start: dt.datetime | None
    updated_at: dt.datetime


@dataclass(frozen=True)
class AlertDelivery(_Record):
    """One attempt to hand an alert event to a sink."""

    id: int
    alert_id: int
    sink: str
    event: str
    status: str
    attempts: int
    error: str | None
    payload: dict[str, Any]
    created_at: dt.datetime


@dataclass(frozen=True)
class StoredWindow(_Record):
    """One replica's closed window of one version (a row of ``monitor_windows``); ``sketch``
    (its ``WindowSketch`` JSON) is empty when it was not asked for."""

    id: int
    endpoint: str
    version_id: int
    replica: str
    start: dt.datetime
    end: dt.datetime
    requests: int
    errors: int
    cpu_s: float | None
    created_at: dt.datetime
    sketch: str = ""


@dataclass(frozen=True)
class VersionUsage(_Record):
    """A version's traffic and inference CPU over all its stored windows."""

    requests: int
    errors: int
    cpu_s: float | None
    last_seen: dt.datetime | None


@dataclass(frozen=True)
class WindowVerdict(_Record):
    """The monitor's verdict on one merged window (a row of ``monitor_results``)."""

    id: int
    endpoint: str
    version_id: int
    start: dt.datetime
    end: dt.datetime
    requests: int
    summary: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
