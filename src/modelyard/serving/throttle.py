"""Throttling: per endpoint and per caller token, a concurrency limit and a token bucket → 429.

Checked before the body is even parsed, so an overloaded endpoint sheds load cheaply. The
answer carries ``Retry-After``: one second for concurrency, the time until a token refills for
a rate; its message and ``details.limit`` name the limit that was hit
(``throttle.max_concurrency``, ``throttle.rate_per_s``, ``throttle.per_token.max_concurrency``
or ``throttle.per_token.rate_per_s``).

Per-token limits key each caller by a keyed BLAKE2b digest of its ``Authorization`` header
value (the raw token is never stored or logged); callers without one share one anonymous
bucket. At most ``per_token.max_tokens`` callers are tracked, least recently seen forgotten
first. The hot-path cost is one hash and one dict lookup. The clock is injectable for
deterministic tests.

The inference routes make one call, ``with limiter.admit(headers):``; the admission a request
holds is a ticket made once per bucket (and one shared no-op ticket when nothing is limited),
so admitting allocates nothing per request. A refusal is counted through ``on_refused``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from modelyard.core.endpoint_config import PerTokenThrottle, ThrottleConfig
from modelyard.serving.errors import Throttled

ANONYMOUS = b"anonymous"


class Bucket:
    """One concurrency counter and one token bucket (an endpoint's, or one caller's)."""

    __slots__ = ("capacity", "in_flight", "max_concurrency", "rate", "stamp", "ticket", "tokens")

    def __init__(
        self, max_concurrency: int | None, rate: float | None, burst: int | None, now: float
    ) -> None:
        self.max_concurrency = max_concurrency
        self.rate = rate
        self.capacity = float(burst or max(1, round(rate or 1)))
        self.tokens = self.capacity
        self.stamp = now
        self.in_flight = 0
        self.ticket: Ticket | None = None  # what a request admitted through it holds

    def take(self, now: float, who: str, prefix: str) -> None:
        """Admit one request (count it in flight) or raise Throttled naming the limit."""
        if self.max_concurrency is not None and self.in_flight >= self.max_concurrency:
            raise Throttled(
                f"{who} is at its concurrency limit of {self.max_concurrency} in-flight requests "
                f"({prefix}.max_concurrency)",
                retry_after_s=1.0,
                hint=f"retry after the Retry-After delay, or raise {prefix}.max_concurrency",
                limit=f"{prefix}.max_concurrency",
            )
        if self.rate is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens < 1.0:
                raise Throttled(
                    f"{who} is over its rate limit of {self.rate:g} requests/s "
                    f"({prefix}.rate_per_s)",
                    retry_after_s=(1.0 - self.tokens) / self.rate,
                    hint=f"retry after the Retry-After delay, or raise {prefix}.rate_per_s",
                    limit=f"{prefix}.rate_per_s",
                )
            self.tokens -= 1.0
        self.in_flight += 1

    def give_back(self) -> None:
        """Undo ``take`` for a request refused further on (it never ran)."""
        self.in_flight -= 1
        if self.rate is not None:
            self.tokens = min(self.capacity, self.tokens + 1.0)


class TokenLimits:
    """Buckets per caller token (hashed), bounded, least recently seen evicted first."""

    def __init__(self, endpoint: str, config: PerTokenThrottle) -> None:
        self.endpoint = endpoint
        self.config = config
        self.max_tokens = config.max_tokens
        self.key = secrets.token_bytes(16)  # per process: digests mean nothing elsewhere
        self.buckets: OrderedDict[bytes, Bucket] = OrderedDict()

    def digest(self, authorization: str | None) -> bytes:
        if not authorization:
            return ANONYMOUS
        raw = authorization.encode("latin-1")
        return hashlib.blake2b(raw, digest_size=16, key=self.key).digest()

    def bucket(self, digest: bytes, now: float) -> Bucket:
        found = self.buckets.get(digest)
        if found is not None:
            self.buckets.move_to_end(digest)
            return found
        c = self.config
        made = self.buckets[digest] = Bucket(c.max_concurrency, c.rate_per_s, c.burst, now)
        if len(self.buckets) > self.max_tokens:
            self.buckets.popitem(last=False)
        return made


class Ticket:
    """An admitted request's hold on its limiter, given back when the ``with`` block ends."""

    __slots__ = ("limiter", "token")

    def __init__(self, limiter: Limiter, token: Bucket | None) -> None:
        self.limiter = limiter
        self.token = token

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        self.limiter.leave(self.token)


class _Unlimited:
    """The ticket of an endpoint without limits: nothing to take, nothing to give back."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


UNLIMITED = _Unlimited()


class Limiter:
    def __init__(
        self,
        endpoint: str,
        config: ThrottleConfig,
        clock: Callable[[], float] = time.monotonic,
        on_refused: Callable[[], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.config = config
        self.clock = clock
        self.on_refused = on_refused
        self.max_concurrency = config.max_concurrency
        self.rate = config.rate_per_s
        own = config.max_concurrency is not None or config.rate_per_s is not None
        self.bucket = Bucket(config.max_concurrency, config.rate_per_s, config.burst, clock())
        self.own = own
        self.per_token = (
            TokenLimits(endpoint, config.per_token) if config.per_token is not None else None
        )
        self.active = own or self.per_token is not None
        self.ticket = Ticket(self, None)  # held by every request when only ``own`` limits

    def admit(self, headers: Iterable[tuple[bytes, bytes]]) -> AbstractContextManager[None]:
        """Admit one request or raise Throttled: ``with limiter.admit(scope["headers"]):``.

        ``headers`` are the request's raw headers; the ``Authorization`` value is read only
        when per-token limits are configured.
        """
        if not self.active:
            return UNLIMITED
        try:
            token = self.enter(_authorization(headers) if self.per_token is not None else None)
        except Throttled:
            if self.on_refused is not None:
                self.on_refused()
            raise
        if token is None:
            return self.ticket
        if token.ticket is None:
            token.ticket = Ticket(self, token)
        return token.ticket

    @property
    def in_flight(self) -> int:
        return self.bucket.in_flight

    def enter(self, authorization: str | None = None) -> Bucket | None:
        """Admit one request or raise Throttled; pass the result to ``leave`` when done.

        ``authorization`` is the caller's ``Authorization`` header value (only read when
        per-token limits are configured).
        """
        now = self.clock()
        token: Bucket | None = None
        if self.per_token is not None:
            token = self.per_token.bucket(self.per_token.digest(authorization), now)
            who = "this caller's token" if authorization else "anonymous callers (no token)"
            token.take(now, f"{who} on endpoint {self.endpoint!r}", "throttle.per_token")
        if self.own:
            try:
                self.bucket.take(now, f"endpoint {self.endpoint!r}", "throttle")
            except Throttled:
                if token is not None:
                    token.give_back()
                raise
        return token

    def leave(self, token: Bucket | None = None) -> None:
        if self.own:
            self.bucket.in_flight -= 1
        if token is not None:
            token.in_flight -= 1


def _authorization(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for k, v in headers:
        if k == b"authorization":
            return v.decode("latin-1")
    return None
