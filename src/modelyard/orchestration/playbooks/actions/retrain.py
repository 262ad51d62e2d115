"""The ``retrain`` action: the retrain path (:mod:`modelyard.orchestration.retrain`, shared
with the continuous-training triggers) — train, gate, then approval or a canary."""

from __future__ import annotations

from typing import Any

from modelyard.orchestration.playbooks.base import ActionContext, Executor
from modelyard.orchestration.retrain import RetrainPlan, plan_retrain, retrain_and_release


class Retrain(Executor):
    def describe(self, plan: dict[str, Any]) -> str:
        data = ", ".join(plan["datasets"].values())
        return f"would retrain {plan['source']} on {data}, gate it, then {plan['then']}"

    def plan(self, ctx: ActionContext) -> dict[str, Any]:
        return plan_retrain(ctx.reg, ctx.endpoint, ctx.action.model, ctx.action.dataset).to_dict()

    def apply(self, ctx: ActionContext, plan: dict[str, Any]) -> dict[str, Any]:
        p = RetrainPlan(**plan)
        return {
            "datasets": p.datasets,
            **retrain_and_release(ctx.reg, ctx.endpoint, p, ctx.actor, ctx.reason),
        }
