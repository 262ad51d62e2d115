"""Retirement triggers: serving versions that should probably go, proposed (never retired) with
the figure that triggered it.

Three triggers, per model in ``models.<name>.rollout``:

- idle: no traffic for ``retire_after_idle_days`` (the last monitoring window it was seen in,
  or, never seen, since it was deployed);
- drift: a drift alert rule on an endpoint it serves has been firing continuously for more than
  ``retire_after_drift_days``;
- KPI: the latest live verdict's ``quality.kpi`` is below ``kpi_target`` (when declared).

Each new proposal is written to the audit log (``lifecycle.retirement_proposed``, once per
version and trigger while its state does not change), and the catalog shows them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from modelyard.core.lifecycle import State
from modelyard.monitoring import verdicts
from modelyard.monitoring.alerts import AlertBook
from modelyard.registry import queries
from modelyard.registry.access import record_audit
from modelyard.registry.catalog import PROPOSAL_ACTION as ACTION
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.alerts import OpenAlert

CANDIDATE_STATES = (State.DEPLOYED.value, State.DEPRECATED.value)
_DRIFT_SIGNAL = re.compile(
    r"^(drift\.|prediction\.|multivariate\.|feature\.[^.\s]+\.(drifted|effect|psi))"
)


@dataclass(frozen=True)
class Proposal:
    version: str
    model: str
    trigger: str  # idle | drift | kpi
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _days(delta: dt.timedelta) -> float:
    return round(delta.total_seconds() / 86400, 2)


def _deployed_at(reg: Registry, mv: ModelVersion) -> dt.datetime | None:
    steps = [s for s in queries.transitions(reg, mv.id) if s.to_state == State.DEPLOYED.value]
    return _aware(steps[-1].at) if steps else None


def _drift_rules(reg: Registry) -> set[str]:
    return {r.name for r in reg.config.monitoring.alerts if _DRIFT_SIGNAL.match(r.signal)}


def _firing_drift(reg: Registry, endpoints: set[str]) -> list[OpenAlert]:
    if not endpoints:
        return []
    known = _drift_rules(reg)
    return [
        a
        for a in AlertBook.of(reg).open_on(endpoints)
        if a.rule in known or "drift" in a.rule.lower()
    ]


def _kpi(summary: dict[str, Any]) -> float | None:
    quality = summary.get("quality")
    value = quality.get("kpi") if isinstance(quality, dict) else summary.get("quality.kpi")
    return float(value) if isinstance(value, int | float) else None


def _check(
    reg: Registry, mv: ModelVersion, endpoints: set[str], now: dt.datetime
) -> list[Proposal]:
    policy = reg.config.model(mv.model_name).rollout
    out: list[Proposal] = []
    usage = verdicts.usage(reg, mv.id)
    last = _aware(usage.last_seen) if usage.last_seen is not None else None
    since = last or _deployed_at(reg, mv)
    idle = policy.retire_after_idle_days
    if since is not None and now - since > dt.timedelta(days=idle):
        what = "no traffic" if last else "never any traffic"
        out.append(
            Proposal(
                mv.ref,
                mv.model_name,
                "idle",
                f"{what} for {_days(now - since)} days (limit {idle:g})",
                {"last_seen": last.isoformat() if last else None, "idle_days": _days(now - since)},
            )
        )
    limit = dt.timedelta(days=policy.retire_after_drift_days)
    for alert in _firing_drift(reg, endpoints):
        started = _aware(alert.started_at)
        if now - started > limit:
            out.append(
                Proposal(
                    mv.ref,
                    mv.model_name,
                    "drift",
                    f"drift alert {alert.rule!r} on {alert.endpoint} firing for "
                    f"{_days(now - started)} days (limit {policy.retire_after_drift_days:g})",
                    {"alert": alert.id, "rule": alert.rule, "endpoint": alert.endpoint},
                )
            )
            break
    if policy.kpi_target is not None:
        latest = verdicts.stored(reg, version_id=mv.id, limit=1)
        kpi = _kpi(latest[0].summary) if latest else None
        if kpi is not None and kpi < policy.kpi_target:
            out.append(
                Proposal(
                    mv.ref,
                    mv.model_name,
                    "kpi",
                    f"live KPI {kpi:.4g} below the target {policy.kpi_target:g}",
                    {"kpi": kpi, "target": policy.kpi_target, "window": str(latest[0].start)},
                )
            )
    return out


def propose_retirements(
    reg: Registry, now: dt.datetime | None = None, *, record: bool = True
) -> list[Proposal]:
    """Versions in production or deprecated that a trigger proposes to retire; new proposals are
    recorded in the audit log (nothing is retired)."""
    now = _aware(now or dt.datetime.now(dt.UTC))
    served: dict[int, set[str]] = {}
    for r in queries.routes(reg):
        served.setdefault(r.model_version_id, set()).add(r.endpoint)
    proposals: list[Proposal] = []
    for mv in reg.model_versions():
        if mv.state in CANDIDATE_STATES:
            proposals.extend(_check(reg, mv, served.get(mv.id, set()), now))
    if record:
        _record(reg, proposals)
    return proposals


def _record(reg: Registry, proposals: list[Proposal]) -> None:
    fresh = []
    for p in proposals:
        mv = reg.model_version(p.version)
        steps = queries.transitions(reg, mv.id)
        changed = _aware(steps[-1].at) if steps else None
        seen = queries.audit_entries(reg, f"model:{p.version}", ACTION)
        if any(
            e.target == f"model:{p.version}"
            and e.data.get("trigger") == p.trigger
            and (changed is None or _aware(e.at) >= changed)
            for e in seen
        ):
            continue
        fresh.append(p)
    if not fresh:
        return
    record_audit(
        reg,
        ACTION,
        ((f"model:{p.version}", p.reason, {"trigger": p.trigger, **p.figures}) for p in fresh),
    )
