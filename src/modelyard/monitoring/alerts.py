"""Tiered alerts: a rule reads one signal of an endpoint's window, and fires after ``sustain``
consecutive breaching windows, resolves after ``recover`` consecutive clear ones.

States of one firing episode (one row in ``alerts``): ``firing`` → ``acknowledged`` (someone
owns it; it stays open until the signal recovers) → ``resolved`` (by recovery, or by hand).
The counters live in ``alert_rule_state`` next to the last window counted, so a restarted
monitor continues where the previous one stopped and a window (even a re-judged one that got
late rows) is counted once. Windows under the rule's ``min_requests``, and windows where the
signal is absent (no baseline, no labels yet), are not judged: they neither breach nor clear.

``AlertEvent`` is what sinks deliver and playbooks consume.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from modelyard.core.monitor_config import NO_TRAFFIC, AlertRule
from modelyard.core.monitoring_records import Alert, AlertDelivery, AlertRuleState
from modelyard.store.alerts import OPEN_STATES, STATES, AlertStore, OpenAlert
from modelyard.store.metadata import MetadataStore

if TYPE_CHECKING:
    from modelyard.registry.registry import Registry

EventKind = Literal["fired", "resolved", "acknowledged"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True)
class AlertEvent:
    alert_id: int
    event: EventKind
    endpoint: str
    rule: str
    tier: str
    value: float | None
    threshold: float | None
    message: str
    window_start: dt.datetime | None
    signal: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "event": self.event,
            "endpoint": self.endpoint,
            "rule": self.rule,
            "tier": self.tier,
            "signal": self.signal,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "window_start": None if self.window_start is None else self.window_start.isoformat(),
        }

    @classmethod
    def from_alert(cls, row: Alert, event: EventKind) -> AlertEvent:
        """The event of a person acting on a stored alert (acknowledge, manual resolve)."""
        details = row.details or {}
        start = details.get("window_start")
        return cls(
            alert_id=int(row.id),
            event=event,
            endpoint=row.endpoint,
            rule=row.rule,
            tier=row.tier,
            value=row.value,
            threshold=details.get("threshold"),
            message=row.message,
            window_start=None if start is None else dt.datetime.fromisoformat(start),
            signal=details.get("signal", ""),
        )


def sla_threshold(rule: AlertRule, sla: Any) -> float:
    """The number a rule with ``threshold: sla`` compares with (see ``core.monitor_config``)."""
    if rule.signal == "latency.p99_ms":
        return float(sla.latency_p99_ms)
    return 1.0 - float(sla.availability)  # error_rate (the only other signal allowed)


def breached(rule: AlertRule, value: float, threshold: float) -> bool:
    return _OPS[rule.op](value, threshold)


class AlertBook:
    """Applies judged windows to the rules' counters and episodes; people act through it."""

    def __init__(self, store: MetadataStore) -> None:
        self.alerts = AlertStore(store)

    @classmethod
    def of(cls, reg: Registry) -> AlertBook:
        """The alert book of a registry's project."""
        return cls(reg.store)

    def observe(
        self,
        rule: AlertRule,
        endpoint: str,
        start: dt.datetime,
        signals: Mapping[str, float],
        threshold: float | None,
        context: Mapping[str, Any] | None = None,
    ) -> AlertEvent | None:
        """Count one window of ``endpoint`` for ``rule``; the event it causes, if any."""
        requests = float(signals.get("requests", 0.0))
        value = signals.get(rule.signal)
        judged = (
            (requests >= rule.min_requests or rule.signal == NO_TRAFFIC)
            and value is not None
            and math.isfinite(value)
            and threshold is not None
        )

        def step(
            conn: Any, state: AlertRuleState | None, open_alert: Alert | None
        ) -> AlertEvent | None:
            last = None if state is None else state.last_start
            if last is not None and start <= last:
                return None  # counted already (re-judged window, or an older one)
            breaches = 0 if state is None else state.breaches
            clears = 0 if state is None else state.clears
            event: AlertEvent | None = None
            if judged:
                assert value is not None and threshold is not None
                details = {
                    "signal": rule.signal,
                    "op": rule.op,
                    "threshold": threshold,
                    "window_start": start.isoformat(),
                    "requests": int(requests),
                    **(context or {}),
                }
                if breached(rule, value, threshold):
                    breaches, clears = breaches + 1, 0
                    if open_alert is not None:
                        self.alerts.touch_alert(
                            conn, open_alert.id, value, {**open_alert.details, **details}
                        )
                    elif breaches >= rule.sustain:
                        message = (
                            f"{rule.signal} = {_fmt(value)} {rule.op} {_fmt(threshold)} on "
                            f"{endpoint} for {breaches} window(s)"
                        )
                        alert_id = self.alerts.open_alert(
                            conn, endpoint, rule.name, rule.tier, value, message, details
                        )
                        event = self._event(alert_id, "fired", endpoint, rule, value, threshold,
                                            message, start)  # fmt: skip
                else:
                    breaches, clears = 0, clears + 1
                    if open_alert is not None and clears >= rule.recover:
                        message = (
                            f"{rule.signal} = {_fmt(value)} back within {_fmt(threshold)} on "
                            f"{endpoint} for {clears} window(s)"
                        )
                        self.alerts.close_alert(
                            conn,
                            open_alert.id,
                            {**open_alert.details, "resolution": "recovered",
                             "resolved_window": start.isoformat()},
                        )  # fmt: skip
                        event = self._event(open_alert.id, "resolved", endpoint, rule, value,
                                            threshold, message, start)  # fmt: skip
            self.alerts.save_state(
                conn, endpoint, rule.name, breaches, clears, start, existed=state is not None
            )
            return event

        result: AlertEvent | None = self.alerts.judge(endpoint, rule.name, step)
        return result

    @staticmethod
    def _event(
        alert_id: int,
        kind: EventKind,
        endpoint: str,
        rule: AlertRule,
        value: float,
        threshold: float,
        message: str,
        start: dt.datetime,
    ) -> AlertEvent:
        return AlertEvent(
            alert_id=int(alert_id),
            event=kind,
            endpoint=endpoint,
            rule=rule.name,
            tier=rule.tier,
            value=value,
            threshold=threshold,
            message=message,
            window_start=start,
            signal=rule.signal,
        )

    # ---- people ----------------------------------------------------------------------
    def acknowledge(self, alert_id: int, actor: str, reason: str) -> AlertEvent:
        return AlertEvent.from_alert(
            self.alerts.acknowledge(alert_id, actor, reason), "acknowledged"
        )

    def resolve(self, alert_id: int, actor: str, reason: str) -> AlertEvent:
        return AlertEvent.from_alert(self.alerts.resolve(alert_id, actor, reason), "resolved")

    # ---- reading ---------------------------------------------------------------------
    def find(
        self, state: str = "open", endpoint: str | None = None, limit: int | None = None
    ) -> list[Alert]:
        """Alerts in ``state`` (see :func:`parse_state`), newest first."""
        return self.alerts.find(parse_state(state), endpoint, limit)

    def open_on(self, endpoints: Iterable[str]) -> list[OpenAlert]:
        """Alerts not resolved yet on any of ``endpoints``, oldest first."""
        return self.alerts.open_on(endpoints)

    def get(self, alert_id: int) -> Alert:
        return self.alerts.get(alert_id)

    def deliveries(
        self, dead: bool = False, alert_id: int | None = None, limit: int | None = None
    ) -> list[AlertDelivery]:
        """Every attempt to hand an alert event to a sink, newest first; with ``dead`` only
        the events given up on (the dead letters)."""
        return self.alerts.deliveries("dead" if dead else None, alert_id, limit)


def parse_state(state: str) -> tuple[str, ...]:
    """``firing``, ``acknowledged``, ``resolved``, ``open`` (the first two) or ``all``."""
    from modelyard.core.errors import InvalidInput

    if state == "all":
        return STATES
    if state == "open":
        return OPEN_STATES
    if state in STATES:
        return (state,)
    raise InvalidInput(
        f"unknown alert state {state!r}",
        hint="expected one of firing, acknowledged, resolved, open (firing or acknowledged), all",
    )


def _fmt(x: float) -> str:
    return f"{x:.4g}"
