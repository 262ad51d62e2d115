"""The ``rollback`` action: the endpoint back to its last known good version."""

from __future__ import annotations

from typing import Any

from modelyard.orchestration.operations import champion, last_known_good, rollback
from modelyard.orchestration.playbooks.base import ActionContext, Executor


class Rollback(Executor):
    def describe(self, plan: dict[str, Any]) -> str:
        return f"would roll back {plan['from']} → {plan['to']}"

    def plan(self, ctx: ActionContext) -> dict[str, Any]:
        current = champion(ctx.reg, ctx.endpoint)
        target = last_known_good(ctx.reg, ctx.endpoint)
        return {"from": current.ref if current else None, "to": target.ref}

    def apply(self, ctx: ActionContext, plan: dict[str, Any]) -> dict[str, Any]:
        done = rollback(ctx.reg, ctx.endpoint, ctx.reason, to=plan["to"], actor=ctx.actor)
        return {"from": done.from_version, "to": done.to_version, "outcome": f"→ {done.to_version}"}
