"""The ``shift`` action: all traffic to a named version, if lifecycle and governance allow it.

A validated version is approved on the way when governance requires no approval; anything not
approved or deployed is refused (its gate record and approvals are checked as for a deploy).
"""

from __future__ import annotations

from typing import Any

from modelyard.core.errors import IllegalTransition
from modelyard.core.lifecycle import DEPLOYABLE, State
from modelyard.orchestration.operations import champion, ensure_cleared, rollback
from modelyard.orchestration.playbooks.base import ActionContext, Executor
from modelyard.registry.registry import ModelVersion, Registry


def check_servable(reg: Registry, mv: ModelVersion) -> bool:
    """Raise unless ``mv`` may take production traffic under the lifecycle and governance.
    Returns True when it is validated and governance needs no human approval (it is then
    approved on the way)."""
    if State(mv.state) in DEPLOYABLE:
        return False
    required = reg.config.governance.approvals.required
    if mv.state == State.VALIDATED.value and required == 0:
        return True
    why = (
        f"it is validated but governance requires {required} approval(s)"
        if mv.state == State.VALIDATED.value
        else f"it is {mv.state}; only approved (or deployed) versions may take traffic"
    )
    raise IllegalTransition(
        f"cannot shift traffic to {mv.ref}: {why}",
        hint=f"gate and approve it first (`modelyard gate {mv.ref}`, `modelyard approve`)",
        version=mv.ref,
        state=mv.state,
    )


class Shift(Executor):
    def describe(self, plan: dict[str, Any]) -> str:
        approve = " (approving it: no approval required)" if plan["auto_approve"] else ""
        return f"would shift all traffic {plan['from']} → {plan['to']}{approve}"

    def plan(self, ctx: ActionContext) -> dict[str, Any]:
        ref = str(ctx.action.to)
        mv = ctx.reg.model_version(ref)
        approve = check_servable(ctx.reg, mv)
        if not approve:
            ensure_cleared(ctx.reg, mv)  # its gate record and the approvals still on record
        current = champion(ctx.reg, ctx.endpoint)
        return {
            "from": current.ref if current else None,
            "to": mv.ref,
            "state": mv.state,
            "auto_approve": approve,
        }

    def apply(self, ctx: ActionContext, plan: dict[str, Any]) -> dict[str, Any]:
        if plan["from"] == plan["to"]:
            return {**plan, "outcome": f"{plan['to']} already takes all traffic"}
        if plan["auto_approve"]:
            ctx.reg.transition(
                plan["to"],
                State.APPROVED,
                reason=f"{ctx.reason}: governance requires no approval",
                actor=ctx.actor,
            )
            ensure_cleared(ctx.reg, ctx.reg.model_version(plan["to"]))
        done = rollback(
            ctx.reg, ctx.endpoint, f"{ctx.reason}: shift", to=plan["to"], actor=ctx.actor
        )
        return {"from": done.from_version, "to": done.to_version, "outcome": f"→ {done.to_version}"}
