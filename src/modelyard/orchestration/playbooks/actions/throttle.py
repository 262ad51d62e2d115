"""The ``throttle`` action: a rate and/or concurrency limit on the endpoint (an override the
serving plans pick up), merged into the endpoint's other overrides."""

from __future__ import annotations

from typing import Any

from modelyard.orchestration.playbooks.base import ActionContext, Executor
from modelyard.registry.endpoints import overrides, set_overrides


class Throttle(Executor):
    def describe(self, plan: dict[str, Any]) -> str:
        return "would throttle: " + ", ".join(f"{k}={v:g}" for k, v in plan["throttle"].items())

    def plan(self, ctx: ActionContext) -> dict[str, Any]:
        limits: dict[str, Any] = {}
        if ctx.action.rate_per_s is not None:
            limits["rate_per_s"] = ctx.action.rate_per_s
        if ctx.action.max_concurrency is not None:
            limits["max_concurrency"] = ctx.action.max_concurrency
        before = overrides(ctx.reg, ctx.endpoint)
        return {"throttle": limits, "overrides_before": before or None}

    def apply(self, ctx: ActionContext, plan: dict[str, Any]) -> dict[str, Any]:
        merged = {**(plan["overrides_before"] or {}), "throttle": plan["throttle"]}
        generation = set_overrides(ctx.reg, ctx.endpoint, merged, ctx.actor, ctx.reason)
        limits = ", ".join(f"{k}={v:g}" for k, v in plan["throttle"].items())
        return {**plan, "generation": generation, "outcome": f"throttled: {limits}"}
