"""Canary rollouts with automated analysis: at each step compare the canary with the champion on
live traffic and promote, hold or roll back by itself, recording the figures that decided.

All state is in the store (``rollouts``), so a controller that restarts resumes where it was,
and a lease makes sure one controller acts at a time across replicas.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from modelyard.core.errors import Conflict, ModelyardError, NotFound
from modelyard.core.lifecycle import Role
from modelyard.core.operations_records import Rollout
from modelyard.core.rollout_config import RolloutPolicy
from modelyard.orchestration.operations import champion
from modelyard.orchestration.signals import (
    SignalSource,
    Snapshot,
    VersionCounts,
    from_json,
    to_json,
)
from modelyard.registry import queries
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.rollouts import RUNNING, RolloutStore

LEASE = "rollout-controller"


@dataclass
class Analysis:
    decision: str  # promote | hold | fail
    step: int
    weight: float
    figures: dict[str, float | None] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def analyse(
    canary: VersionCounts,
    baseline: VersionCounts | None,
    policy: RolloutPolicy,
    step: int,
    weight: float,
) -> Analysis:
    a = Analysis("promote", step, weight)
    err = canary.error_rate
    base_err = baseline.error_rate if baseline else None
    p99 = canary.quantile_ms(0.99)
    base_p99 = baseline.quantile_ms(0.99) if baseline else None
    a.figures = {
        "canary_requests": canary.requests,
        "canary_error_rate": err,
        "champion_error_rate": base_err,
        "canary_p99_ms": p99,
        "champion_p99_ms": base_p99,
    }
    if canary.requests < policy.min_requests:
        a.decision = "hold"
        a.reasons.append(
            f"only {canary.requests:.0f} canary requests; {policy.min_requests} needed to judge"
        )
        return a
    if err is not None and err > policy.max_error_rate:
        a.reasons.append(f"error rate {err:.2%} > {policy.max_error_rate:.2%}")
    if err is not None and base_err is not None and err - base_err > policy.max_error_rate_increase:
        a.reasons.append(
            f"error rate {err:.2%} exceeds the champion's {base_err:.2%} by more than "
            f"{policy.max_error_rate_increase:.2%}"
        )
    if p99 is not None and policy.max_p99_ms is not None and p99 > policy.max_p99_ms:
        a.reasons.append(f"p99 {p99:.1f} ms > {policy.max_p99_ms:.1f} ms")
    if (
        p99 is not None
        and base_p99
        and p99 > policy.max_p99_ratio * base_p99
        and p99 - base_p99 > policy.p99_slack_ms
    ):
        a.reasons.append(
            f"p99 {p99:.1f} ms > {policy.max_p99_ratio:g} x champion's {base_p99:.1f} ms"
        )
    if a.reasons:
        a.decision = "fail"
    return a


def start(
    reg: Registry,
    ref: str,
    endpoint: str,
    policy: RolloutPolicy | None = None,
    actor: str | None = None,
    reason: str = "canary rollout",
) -> int:
    mv = reg.model_version(ref)
    policy = policy or reg.config.model(mv.model_name).rollout
    base = champion(reg, endpoint)
    if base is None:
        raise Conflict(
            f"endpoint {endpoint!r} has no champion to compare a canary with",
            hint=f"deploy the first version directly: modelyard deploy {ref} --to {endpoint}",
        )
    if base.id == mv.id:
        raise Conflict(f"{mv.ref} is already the champion of {endpoint}")
    who = actor or reg.settings.user
    rid = RolloutStore(reg.store).create(
        {
            "endpoint": endpoint,
            "candidate_id": mv.id,
            "baseline_id": base.id,
            "strategy": policy.model_dump(mode="json"),
        },
        who,
        reason,
    )
    reg.deploy(
        mv,
        endpoint,
        role=Role.CANARY,
        weight=policy.steps[0],
        reason=f"rollout #{rid} step 1: {policy.steps[0]:.0%}",
        actor=who,
    )
    return rid


class Controller:
    """Advances running rollouts. ``tick()`` is one pass; ``run()`` loops with a lease."""

    def __init__(
        self,
        reg: Registry,
        signals: SignalSource,
        owner: str | None = None,
        lease_ttl_s: float = 15.0,
    ) -> None:
        self.reg = reg
        self.signals = signals
        self.rollouts = RolloutStore(reg.store)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_ttl_s = lease_ttl_s

    def is_leader(self) -> bool:
        return self.rollouts.acquire(LEASE, self.owner, self.lease_ttl_s)

    def tick(self, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Judge every running rollout whose step interval has elapsed. Returns what was done."""
        if not self.is_leader():
            return []
        now = now or dt.datetime.now(dt.UTC)
        done = []
        for row in self.rollouts.list(status=RUNNING):
            result = self._advance(row, now)
            if result:
                done.append(result)
        return done

    def run(self, interval_s: float = 2.0, until: float | None = None) -> None:
        while until is None or time.monotonic() < until:
            self.tick()
            time.sleep(interval_s)

    # ---- one rollout -------------------------------------------------------------------------
    def _advance(self, row: Rollout, now: dt.datetime) -> dict[str, Any] | None:
        reg, rid = self.reg, row.id
        policy = RolloutPolicy.model_validate(row.strategy)
        endpoint = row.endpoint
        cand = queries.version_by_id(reg, row.candidate_id)
        base = queries.version_by_id(reg, row.baseline_id) if row.baseline_id else None
        history = list(row.history)
        try:
            snap = self.signals.snapshot(endpoint)
        except ModelyardError as exc:
            # no signal is no verdict: hold, and try again on the next pass
            return {
                "rollout": rid,
                "decision": "hold",
                "reasons": [f"no signal: {exc.message}"],
                "outcome": "hold",
            }
        if not history or history[-1].get("kind") != "mark" or history[-1]["step"] != row.step:
            # first look at this step: remember the counters it starts from
            history.append(
                {
                    "kind": "mark",
                    "step": row.step,
                    "at": now.isoformat(),
                    "counters": to_json(snap),
                }
            )
            self.rollouts.save(rid, self.owner, None, "", history=history)
            return None
        mark = history[-1]
        if (now - dt.datetime.fromisoformat(mark["at"])).total_seconds() < policy.interval_s:
            return None
        start_counts: Snapshot = from_json(mark["counters"])
        delta = {v: c.minus(start_counts.get(v, VersionCounts())) for v, c in snap.items()}
        weight = policy.steps[row.step]
        a = analyse(
            delta.get(cand.ref, VersionCounts()),
            delta.get(base.ref) if base else None,
            policy,
            row.step,
            weight,
        )
        entry = {"kind": "analysis", **asdict(a), "at": now.isoformat()}
        history.append(entry)
        who = self.owner
        if a.decision == "hold":
            history.append(
                {
                    "kind": "mark",
                    "step": row.step,
                    "at": mark["at"],
                    "counters": mark["counters"],
                }
            )
            self.rollouts.save(rid, who, None, "", history=history)
            return {"rollout": rid, **entry}
        if a.decision == "fail":
            failures = row.failures + 1
            if failures >= policy.failure_limit:
                self._rollback(row, cand, history, failures, "; ".join(a.reasons))
                return {"rollout": rid, **entry, "outcome": "rolled_back"}
            self.rollouts.save(
                rid,
                who,
                "rollout.fail",
                "; ".join(a.reasons),
                failures=failures,
                history=history,
                step_started_at=now,
            )
            return {"rollout": rid, **entry, "outcome": "failed_check"}
        nxt = row.step + 1
        if nxt >= len(policy.steps) or policy.steps[nxt] >= 1.0:
            reg.deploy(
                cand,
                endpoint,
                role=Role.PRODUCTION,
                weight=1.0,
                actor=who,
                reason=f"rollout #{rid} promoted after {row.step + 1} step(s)",
            )
            self.rollouts.save(
                rid,
                who,
                "rollout.promote",
                f"{cand.ref} promoted to production",
                status="promoted",
                step=nxt,
                history=history,
            )
            return {"rollout": rid, **entry, "outcome": "promoted"}
        reg.deploy(
            cand,
            endpoint,
            role=Role.CANARY,
            weight=policy.steps[nxt],
            actor=who,
            reason=f"rollout #{rid} step {nxt + 1}: {policy.steps[nxt]:.0%}",
        )
        self.rollouts.save(
            rid,
            who,
            "rollout.step",
            f"canary at {policy.steps[nxt]:.0%}",
            step=nxt,
            history=history,
            step_started_at=now,
        )
        return {"rollout": rid, **entry, "outcome": f"step {nxt + 1}"}

    def _rollback(
        self, row: Rollout, cand: ModelVersion, history: list[Any], failures: int, why: str
    ) -> None:
        routes = [
            r for r in queries.routes(self.reg, row.endpoint) if r.model_version_id == cand.id
        ]
        if routes:
            self.reg.undeploy(
                cand, row.endpoint, f"rollout #{row.id} rolled back: {why}", self.owner
            )
        self.rollouts.save(
            row.id,
            self.owner,
            "rollout.rollback",
            why,
            status="rolled_back",
            failures=failures,
            history=history,
        )


def rollout_state(reg: Registry, rollout_id: int) -> str:
    """The status of one rollout: running, promoted, rolled_back, …"""
    return RolloutStore(reg.store).get(rollout_id).status


def rollout_status(reg: Registry, endpoint: str | None = None) -> list[dict[str, Any]]:
    out = []
    for row in RolloutStore(reg.store).list(endpoint):
        cand = queries.version_by_id(reg, row.candidate_id)
        steps = row.strategy["steps"]
        out.append(
            {
                "id": row.id,
                "endpoint": row.endpoint,
                "candidate": f"{cand.model_name}@{cand.version}",
                "status": row.status,
                "step": min(row.step, len(steps) - 1) + 1,
                "steps": len(steps),
                "weight": steps[min(row.step, len(steps) - 1)],
                "failures": row.failures,
                "analyses": [h for h in row.history if h.get("kind") == "analysis"],
            }
        )
    if endpoint and not out:
        raise NotFound(f"no rollouts on endpoint {endpoint!r}")
    return out
