"""The ``notify`` action: the alert and the run so far, POSTed to webhooks or logged.

Webhooks are delivered as alert sinks are (:mod:`modelyard.monitoring.delivery`): the sink's
``retries`` and ``timeout_s`` with capped exponential backoff between attempts; an action's own
``sink: URL`` is a webhook sink with the default settings.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from modelyard.core.monitor_config import SinkConfig
from modelyard.core.webhooks import WebhookRefused, redact_url, url_id
from modelyard.monitoring.delivery import Webhook
from modelyard.orchestration.playbooks.base import ActionContext, ActionFailed, Executor

log = logging.getLogger("modelyard.playbooks")


class Notify(Executor):
    """POST the alert and the run so far to the action's ``sink`` or to every webhook sink.

    The plan (stored, audited, shown) names each webhook by its redacted URL and digest; the
    URL itself is looked up again from the project file when the action runs, and sent only
    where the project's ``webhooks`` policy allows (:mod:`modelyard.security.webhooks`)."""

    def describe(self, plan: dict[str, Any]) -> str:
        return "would notify " + ", ".join(t["url"] or t["kind"] for t in plan["targets"])

    @staticmethod
    def _webhooks(ctx: ActionContext) -> dict[str, SinkConfig]:
        """Digest → sink config of every webhook this action may call."""
        if ctx.action.sink:
            return {url_id(ctx.action.sink): SinkConfig(kind="webhook", url=ctx.action.sink)}
        return {
            url_id(s.url): s
            for s in ctx.reg.config.monitoring.sinks
            if s.kind == "webhook" and s.url
        }

    def plan(self, ctx: ActionContext) -> dict[str, Any]:
        if ctx.action.sink:
            hook = ctx.action.sink
            return {"targets": [{"kind": "webhook", "url": redact_url(hook), "id": url_id(hook)}]}
        targets = [
            {"kind": "webhook", "url": redact_url(s.url), "id": url_id(s.url)}
            if s.kind == "webhook" and s.url
            else {"kind": "log", "url": None}
            for s in ctx.reg.config.monitoring.sinks
        ]
        return {"targets": targets or [{"kind": "log", "url": None}]}

    def apply(self, ctx: ActionContext, plan: dict[str, Any]) -> dict[str, Any]:
        payload = {
            "kind": "playbook",
            "playbook": ctx.playbook,
            "endpoint": ctx.endpoint,
            "run": ctx.run_id,
            "alert": {k: _plain(v) for k, v in ctx.event.items()},
            "actions": list(ctx.earlier),
        }
        sent = []
        hooks = self._webhooks(ctx)
        for target in plan["targets"]:
            if target["kind"] == "log":
                log.warning("playbook notification %s", json.dumps(payload, default=str))
                sent.append("log")
                continue
            shown = target["url"]
            if target.get("id") not in hooks:
                raise ActionFailed(f"webhook {shown} is no longer in the project file", url=shown)
            sink = hooks[target["id"]]
            assert sink.url is not None  # a webhook sink has one (SinkConfig)
            hook = Webhook(
                sink.url,
                policy=ctx.reg.config.webhooks,
                timeout_s=sink.timeout_s,
                retries=sink.retries,
            )
            outcome = hook.deliver(payload)
            if isinstance(outcome.error, WebhookRefused):
                raise ActionFailed(outcome.error.message, url=shown)
            if outcome.error is not None:
                raise ActionFailed(
                    f"webhook {shown} did not accept the notification after "
                    f"{outcome.attempts} attempt(s): {hook.reason(outcome.error)}",
                    url=shown,
                )
            sent.append(shown)
        return {"sent": sent, "outcome": f"notified {', '.join(sent)}"}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value
