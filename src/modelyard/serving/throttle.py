"""Throttling per endpoint: a concurrency limit and a token-bucket rate limit → 429.

Checked before the body is even parsed, so an overloaded endpoint sheds load cheaply. The
answer carries ``Retry-After``: one second for concurrency, the time until a token refills
for the rate. The clock is injectable for deterministic tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from modelyard.core.endpoint_config import ThrottleConfig
from modelyard.serving.errors import Throttled


class Limiter:
    def __init__(
        self, endpoint: str, config: ThrottleConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.endpoint = endpoint
        self.max_concurrency = config.max_concurrency
        self.rate = config.rate_per_s
        self.capacity = float(config.burst or max(1, round(config.rate_per_s or 1)))
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()
        self.in_flight = 0
        self.active = self.max_concurrency is not None or self.rate is not None

    def enter(self) -> None:
        """Admit one request or raise Throttled; pair every admitted call with ``leave``."""
        if self.max_concurrency is not None and self.in_flight >= self.max_concurrency:
            raise Throttled(
                f"endpoint {self.endpoint!r} is at its concurrency limit of "
                f"{self.max_concurrency} in-flight requests",
                retry_after_s=1.0,
                hint="retry after the Retry-After delay, or raise throttle.max_concurrency",
            )
        if self.rate is not None:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens < 1.0:
                wait = (1.0 - self.tokens) / self.rate
                raise Throttled(
                    f"endpoint {self.endpoint!r} is over its rate limit of "
                    f"{self.rate:g} requests/s",
                    retry_after_s=wait,
                    hint="retry after the Retry-After delay, or raise throttle.rate_per_s",
                )
            self.tokens -= 1.0
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
