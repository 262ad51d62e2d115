"""Where alert events go: a structured log line, or an HTTP POST of the event JSON.

A webhook only reaches the addresses the project file's ``webhooks`` policy allows (public
ones by default; checked after resolution, at connect time, see
:mod:`modelyard.security.webhooks`), and its URL is never stored or shown in clear: the sink
is named ``webhook:`` plus the redacted URL (host, a short tail, a digest of the whole URL).
A refused target is a dead letter at once (retrying cannot change the answer).

A ``Sink`` has a ``name`` and ``send(event)`` that raises on failure; ``Dispatcher`` hands each
event to every sink whose ``min_tier`` it reaches, retries a failing sink with capped
exponential backoff (:mod:`modelyard.monitoring.delivery`, the webhook delivery path the
playbook ``notify`` action uses too), and records every attempt in ``alert_deliveries``:
``failed`` (it will retry), ``delivered``, or ``dead`` after the last retry (the dead letter,
listed by ``modelyard alerts deliveries --dead``). Delivery runs after the judge's transaction has
committed, and nothing a sink does (refusing, timing out, raising) escapes ``deliver``: a
broken sink never stops the monitor.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from modelyard.core.monitor_config import SinkConfig, tier_rank
from modelyard.core.webhooks import WebhooksConfig
from modelyard.monitoring.alerts import AlertEvent
from modelyard.monitoring.delivery import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    Backoff,
    Webhook,
    with_retries,
)
from modelyard.store.alerts import AlertStore
from modelyard.store.metadata import MetadataStore

if TYPE_CHECKING:
    from modelyard.registry.registry import Registry

log = logging.getLogger("modelyard.alerts")


class Sink(Protocol):
    name: str
    min_tier: str
    retries: int

    def send(self, event: AlertEvent) -> None:
        """Deliver the event or raise."""


class LogSink:
    """One JSON log record per event on the ``modelyard.alerts`` logger."""

    def __init__(self, min_tier: str = "warning", logger: logging.Logger | None = None) -> None:
        self.name = "log"
        self.min_tier = min_tier
        self.retries = 0
        self.logger = logger or log

    def send(self, event: AlertEvent) -> None:
        level = logging.WARNING if event.event == "fired" else logging.INFO
        self.logger.log(level, json.dumps({"alert": event.to_dict()}, sort_keys=True))


class WebhookSink:
    """POST the event JSON (``{"alert": {...}}``); any status other than 2xx is a failure."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        min_tier: str = "warning",
        policy: WebhooksConfig | None = None,
    ) -> None:
        self.webhook = Webhook(url, policy=policy, timeout_s=timeout_s, retries=retries)
        self.name = f"webhook:{self.webhook.shown}"
        self.retries = retries
        self.min_tier = min_tier

    def send(self, event: AlertEvent) -> None:
        self.webhook.post({"alert": event.to_dict()})

    def scrub(self, text: str) -> str:
        return self.webhook.scrub(text)


def build_sinks(configs: Iterable[SinkConfig], policy: WebhooksConfig | None = None) -> list[Sink]:
    """Sinks from the project file's ``monitoring.sinks``, webhooks under its ``webhooks``
    policy (pass ``reg.config.webhooks``; default: public addresses only)."""
    out: list[Sink] = []
    for c in configs:
        if c.kind == "log":
            out.append(LogSink(c.min_tier))
        else:
            assert c.url is not None  # validated by SinkConfig
            out.append(
                WebhookSink(
                    c.url,
                    timeout_s=c.timeout_s,
                    retries=c.retries,
                    min_tier=c.min_tier,
                    policy=policy,
                )
            )
    return out


class Dispatcher:
    def __init__(
        self,
        store: MetadataStore,
        sinks: Sequence[Sink],
        *,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.alerts = AlertStore(store)
        self.sinks = list(sinks)
        self.backoff = Backoff(backoff_base_s, backoff_cap_s, sleep)

    @classmethod
    def of(cls, reg: Registry, sinks: Sequence[Sink] | None = None) -> Dispatcher:
        """A registry's dispatcher, to the project file's sinks (under its webhook policy)
        unless ``sinks`` are given."""
        if sinks is None:
            sinks = build_sinks(reg.config.monitoring.sinks, reg.config.webhooks)
        return cls(reg.store, sinks)

    def deliver(self, events: Iterable[AlertEvent]) -> dict[str, int]:
        """Hand every event to every sink it is for; counts of delivered and dead."""
        counts = {"delivered": 0, "dead": 0}
        for event in events:
            for sink in self.sinks:
                if tier_rank(event.tier) < tier_rank(sink.min_tier):
                    continue
                try:
                    counts[self._one(sink, event)] += 1
                except Exception:  # the record itself failed: log it, keep going
                    log.exception("alert delivery to %s could not be recorded", sink.name)
        return counts

    def _one(self, sink: Sink, event: AlertEvent) -> str:
        payload = event.to_dict()

        def failed(attempt: int, exc: Exception, last: bool) -> None:
            error = f"{type(exc).__name__}: {exc}"
            if isinstance(sink, WebhookSink):
                error = sink.scrub(error)
            self.alerts.record_delivery(
                event.alert_id, sink.name, event.event, "dead" if last else "failed",
                attempt, error, payload,
            )  # fmt: skip
            if last:
                log.error(
                    "alert #%s (%s) to %s: dead after %d attempt(s): %s",
                    event.alert_id, event.event, sink.name, attempt, error,
                )  # fmt: skip

        outcome = with_retries(lambda: sink.send(event), sink.retries, self.backoff, failed)
        if not outcome.delivered:
            return "dead"
        self.alerts.record_delivery(
            event.alert_id, sink.name, event.event, "delivered", outcome.attempts, None, payload
        )
        return "delivered"
