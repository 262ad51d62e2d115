"""Delivering to a webhook: one POST under the project's ``webhooks`` policy, retried with
capped exponential backoff.

The alert sinks (:mod:`modelyard.monitoring.sinks`) and the playbook ``notify`` action both
deliver through here, so a webhook is called the same way wherever it is configured: only to an
address the policy allows (checked after resolution, at connect time, by
:func:`modelyard.security.webhooks.post_json`; a refused target is final at once, since retrying
cannot change the answer), a 2xx answer or the attempt failed, ``1 + retries`` attempts with
``base``, ``2 x base``, ``4 x base`` … (at most ``cap``) seconds between them, and errors that
never carry the URL's path or query.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelyard.core.webhooks import WebhookRefused, WebhooksConfig, redact_url, scrub

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0

# told of every failed attempt: (attempt number from 1, the error, whether it was the last)
OnFailure = Callable[[int, Exception, bool], None]


def backoff_s(attempt: int, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S) -> float:
    """Wait before retry ``attempt`` (1-based): base, 2x base, 4x base, … at most ``cap_s``."""
    return float(min(cap_s, base_s * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Backoff:
    """How long to wait between attempts, and how (a test passes its own ``sleep``)."""

    base_s: float = BACKOFF_BASE_S
    cap_s: float = BACKOFF_CAP_S
    sleep: Callable[[float], None] = time.sleep

    def wait(self, attempt: int) -> None:
        self.sleep(backoff_s(attempt, self.base_s, self.cap_s))


@dataclass(frozen=True)
class Outcome:
    """How a delivery ended: the attempts made and, when none succeeded, the last error."""

    attempts: int
    error: Exception | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None


def with_retries(
    send: Callable[[], None],
    retries: int,
    backoff: Backoff | None = None,
    on_failure: OnFailure | None = None,
) -> Outcome:
    """Call ``send`` until it returns, at most ``1 + retries`` times, waiting ``backoff``
    between attempts. ``on_failure`` hears of every failed attempt; a ``WebhookRefused`` is the
    last attempt at once. Errors of ``send`` never escape; those of ``on_failure`` do."""
    wait = backoff or Backoff()
    attempts = 1 + max(retries, 0)
    for attempt in range(1, attempts + 1):
        try:
            send()
        except Exception as exc:
            final = attempt == attempts or isinstance(exc, WebhookRefused)
            if on_failure is not None:
                on_failure(attempt, exc, final)
            if final:
                return Outcome(attempt, exc)
            wait.wait(attempt)
            continue
        return Outcome(attempt)
    raise AssertionError("unreachable")  # pragma: no cover


class NotAccepted(RuntimeError):
    """The webhook answered, with a status other than 2xx."""

    def __init__(self, status: str, shown: str) -> None:
        super().__init__(f"{status} from {shown}")
        self.status = status


class Webhook:
    """One webhook target; its URL is kept here only, and shown redacted (``shown``)."""

    def __init__(
        self,
        url: str,
        *,
        policy: WebhooksConfig | None = None,
        timeout_s: float = 5.0,
        retries: int = 3,
    ) -> None:
        self._url = url
        self.policy = policy or WebhooksConfig()
        self.shown = redact_url(url)
        self.timeout_s = timeout_s
        self.retries = retries

    def post(self, payload: Any) -> None:
        """One attempt: POST ``payload`` as JSON. Raises WebhookRefused (the policy), NotAccepted
        (not 2xx) or an httpx error (the URL scrubbed)."""
        from modelyard.security.webhooks import describe_status, post_json

        resp = post_json(self._url, payload, timeout_s=self.timeout_s, policy=self.policy)
        if not 200 <= resp.status_code < 300:
            raise NotAccepted(describe_status(resp), self.shown)

    def deliver(
        self, payload: Any, backoff: Backoff | None = None, on_failure: OnFailure | None = None
    ) -> Outcome:
        """``post`` with this webhook's retries and capped exponential backoff."""
        return with_retries(lambda: self.post(payload), self.retries, backoff, on_failure)

    def reason(self, error: Exception) -> str:
        """A failed attempt in a few words (``HTTP 503``), without the URL's secret."""
        if isinstance(error, NotAccepted):
            return error.status
        if isinstance(error, WebhookRefused):
            return error.message
        return self.scrub(f"{type(error).__name__}: {error}")

    def scrub(self, text: str) -> str:
        return scrub(text, self._url)
