"""One pass of the live monitor's leader: labels → verdicts → alerts → sinks → playbooks →
continuous training. Composed here, in the orchestration layer, because it joins monitoring
(judging, alerts, sinks) with remediation (playbooks, retraining); ``modelyard monitor run`` and
the demo both call it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import Any

from modelyard.monitoring.alerts import AlertEvent
from modelyard.orchestration.feedback import join_feedback
from modelyard.orchestration.triggers import check_triggers
from modelyard.registry import access
from modelyard.registry.registry import Registry

log = logging.getLogger("modelyard.monitoring")
_WIDEST = dt.timedelta(days=1)  # no live window is wider than this


def run_pass(
    reg: Registry,
    monitor: Any,
    dispatcher: Any,
    playbooks: Any = None,
    hooks: Iterable[Callable[[Registry, list[AlertEvent]], None]] = (),
) -> list[AlertEvent]:
    """One pass of the leader, each step committed before the next:

    1. join feedback labels that arrived since the last pass to their logged predictions;
    2. judge closed windows and apply the alert rules, and re-judge windows already judged
       whose predictions just received labels (a delayed label counts in its prediction's
       window: its live quality is recomputed);
    3. deliver alert events to the sinks;
    4. run the playbooks the fired alerts match (each action audited with its alert);
    5. check continuous-training triggers (new data versions, schedules);
    6. checkpoint the audit chain to its anchors (verified first; a broken chain is logged);
    7. call the ``hooks`` (e.g. ``modelyard monitor run``'s extension point).

    A failing step is logged and the others still run: a broken webhook or a failed retrain
    must not stop alerting."""
    joined: list[dict[str, Any]] = []
    try:
        join_feedback(reg, joined=joined)
    except Exception:
        log.exception("monitor: joining feedback labels failed")
    events: list[AlertEvent] = monitor.tick()
    if joined:
        try:
            rejudge_labelled(reg, monitor, joined)
        except Exception:
            log.exception("monitor: re-judging windows that received labels failed")
    if events:
        dispatcher.deliver(events)
    if playbooks is not None and events:
        try:
            for record in playbooks.handle(events):
                log.info(
                    "playbook %s on %s: %s %s (%s)",
                    record.playbook,
                    record.endpoint,
                    record.action,
                    record.status,
                    record.summary,
                )
        except Exception:
            log.exception("monitor: running playbooks failed")
    if playbooks is not None and reg.config.playbooks:
        try:
            for record in check_triggers(reg):
                log.info(
                    "continuous training %s on %s: %s (%s)",
                    record.playbook,
                    record.endpoint,
                    record.status,
                    record.summary,
                )
        except Exception:
            log.exception("monitor: continuous-training triggers failed")
    if access.audit_anchors(reg):
        try:
            access.checkpoint_audit(reg)
        except Exception:
            log.exception("monitor: the audit checkpoint failed")
    for hook in list(hooks):
        try:
            hook(reg, events)
        except Exception:
            log.exception("monitor hook %r failed", hook)
    return events


def rejudge_labelled(reg: Registry, monitor: Any, joined: list[dict[str, Any]]) -> int:
    """Re-judge the stored verdicts whose windows hold the predictions just labelled; returns
    how many windows were re-judged."""
    from modelyard.monitoring.verdicts import stored

    todo: set[tuple[str, int, Any]] = set()
    for j in joined:
        at = j["predicted_at"]
        for r in stored(reg, j["endpoint"], j["version_id"], since=at - _WIDEST):
            if r.start <= at < r.end:
                todo.add((r.endpoint, r.version_id, r.start))
    for endpoint, version_id, start in sorted(todo):
        monitor.judge_window(endpoint, version_id, start)
    return len(todo)
