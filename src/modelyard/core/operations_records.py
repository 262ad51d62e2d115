"""What the operations stores record, as values: rollouts, leases, playbook actions, approval
decisions, API tokens, dashboard sessions and audit entries, one frozen dataclass each.

Pure data (no I/O), built like ``core/records.py`` with ``from_row``; JSON adapters turn a record
back into an object with ``dataclasses.asdict``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from modelyard.core.records import _Record


@dataclass(frozen=True)
class Rollout(_Record):
    """A progressive rollout of a candidate version on an endpoint."""

    id: int
    endpoint: str
    candidate_id: int
    baseline_id: int | None
    strategy: dict[str, Any]
    step: int
    status: str
    failures: int
    history: list[dict[str, Any]]
    created_by: str
    created_at: Any
    step_started_at: Any
    updated_at: Any


@dataclass(frozen=True)
class LeaseHolder(_Record):
    """Who holds a leader lease, and until when."""

    name: str
    owner: str
    expires_at: Any


@dataclass(frozen=True)
class ActionRecord:
    """One recorded action of a playbook run (a row of ``playbook_actions``)."""

    id: int
    playbook: str
    endpoint: str
    action: str
    status: str  # done | failed | dry-run | skipped
    dry_run: bool
    alert_id: int | None
    details: dict[str, Any] = field(default_factory=dict)
    created_at: Any = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ActionRecord:
        return cls(
            id=int(row["id"]),
            playbook=str(row["playbook"]),
            endpoint=str(row["endpoint"]),
            action=str(row["action"]),
            status=str(row["status"]),
            dry_run=bool(row["dry_run"]),
            alert_id=row["alert_id"],
            details=dict(row["details"] or {}),
            created_at=row["created_at"],
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self.created_at, dt.datetime):
            out["created_at"] = self.created_at.isoformat()
        return out

    @property
    def summary(self) -> str:
        d = self.details
        if "error" in d:
            return str(d["error"])
        if "outcome" in d:
            return str(d["outcome"])
        if "reason" in d:
            return str(d["reason"])
        return ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("run", "rule", "tier"))


@dataclass(frozen=True)
class ApprovalDecision(_Record):
    """One approve/reject decision on a model version."""

    id: int
    model_version_id: int
    actor: str
    principal: str | None  # None on rows written before principals existed
    decision: str
    comment: str
    at: Any


@dataclass(frozen=True)
class Approver:
    """Who approved a version since it last became validated (``principal``: ``legacy:<actor>``
    for decisions recorded before principals existed)."""

    actor: str
    principal: str


@dataclass(frozen=True)
class TokenRecord(_Record):
    """An API token as stored: its secret only as a hash."""

    id: str
    name: str
    role: str
    principal: str | None
    secret_hash: str
    created_by: str
    created_at: Any
    expires_at: Any
    revoked_at: Any


@dataclass(frozen=True)
class SessionRecord(_Record):
    """A dashboard session as stored: keyed by the SHA-256 of the cookie's secret."""

    id_hash: str
    binding: str
    principal: str
    csrf: str
    created_at: Any
    expires_at: Any


@dataclass(frozen=True)
class AuditEntry(_Record):
    """One entry of the audit chain, as stored."""

    seq: int
    at: Any
    actor: str
    action: str
    target: str
    reason: str
    data: dict[str, Any]
    prev_hash: str
    hash: str
    signature: str | None
