"""Request-level wrappers: routing (segments, sticky, canary weight), fallback and shadow.

Each is a Predictor over Predictors, built once per plan snapshot; nothing here touches the
store. The order for an endpoint is ``Shadow(Router(variant, …))`` with every variant wrapped
in ``Fallback`` when the endpoint has a fallback version.
"""

from __future__ import annotations

import asyncio
import logging
import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from modelyard.core.endpoint_config import SegmentRule
from modelyard.core.errors import InvalidInput
from modelyard.serving.errors import NotReady
from modelyard.serving.predictor import Answer, InferRequest, Predictor, VersionPredictor

log = logging.getLogger("modelyard.serving")


@dataclass(frozen=True)
class Segment:
    rule: SegmentRule
    target: Predictor
    position: int | None  # the feature's place in the signature, for list-shaped rows

    def matches(self, req: InferRequest) -> bool:
        if self.rule.header is not None:
            value: object = req.headers.get(self.rule.header.lower())
        else:
            assert self.rule.feature is not None
            value = req.payload.first_value(self.rule.feature, self.position)
        if value is None:
            return False
        if self.rule.equals is not None:
            return _same(value, self.rule.equals)
        return any(_same(value, v) for v in self.rule.one_of or ())


def _same(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or str(a).lower() == str(b).lower()
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return str(a) == str(b)


def sticky_point(key: str) -> float:
    """A caller's fixed place in [0, 1): the same key always lands on the same variant."""
    return zlib.crc32(key.encode()) / 2**32


class Router:
    """Segments first (first match wins), then the canary weights, else the champion."""

    def __init__(
        self,
        production: Predictor | None,
        canaries: Sequence[tuple[float, Predictor]] = (),
        segments: Sequence[Segment] = (),
        sticky_header: str | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.production = production
        self.segments = tuple(segments)
        self.sticky = sticky_header.lower() if sticky_header else None
        self.rand = rand
        cum = 0.0
        self.canaries: list[tuple[float, Predictor]] = []
        for weight, p in canaries:
            cum += weight
            self.canaries.append((cum, p))
        if production is None and self.canaries:
            # only canaries: they share all the traffic in proportion to their weights
            total = cum or 1.0
            self.canaries = [(c / total, p) for c, p in self.canaries]

    def choose(self, req: InferRequest) -> Predictor:
        for seg in self.segments:
            if seg.matches(req):
                return seg.target
        if self.canaries:
            key = req.headers.get(self.sticky) if self.sticky else None
            u = sticky_point(key) if key else self.rand()
            for bound, p in self.canaries:
                if u < bound:
                    return p
        if self.production is None:
            if self.canaries:
                return self.canaries[-1][1]
            raise NotReady("this endpoint has no production version routed")
        return self.production

    async def predict(self, req: InferRequest) -> Answer:
        return await self.choose(req).predict(req)


class Fallback:
    """The fallback answers when the primary raises or exceeds the latency budget.

    Invalid input is the caller's problem and is never retried on the fallback.
    """

    def __init__(
        self,
        primary: Predictor,
        fallback: Predictor,
        budget_s: float | None,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.budget_s = budget_s
        self.on_fallback = on_fallback

    async def predict(self, req: InferRequest) -> Answer:
        try:
            if self.budget_s is None:
                return await self.primary.predict(req)
            return await asyncio.wait_for(self.primary.predict(req), self.budget_s)
        except InvalidInput:
            raise
        except TimeoutError:
            reason = "timeout"
        except Exception as exc:
            reason = "error"
            log.warning(
                "primary failed; the fallback answers",
                extra={"prediction_id": req.id, "error": f"{type(exc).__name__}: {exc}"},
            )
        if self.on_fallback is not None:
            self.on_fallback(reason)
        answer = await self.fallback.predict(req)
        answer.role = "fallback"
        answer.fallback_reason = reason
        return answer


class ShadowQueue:
    """Mirrored requests waiting for their shadow versions; bounded, drained in background."""

    def __init__(
        self, max_pending: int, on_result: Callable[[InferRequest, Answer | None], None]
    ) -> None:
        self.queue: asyncio.Queue[tuple[InferRequest, VersionPredictor]] = asyncio.Queue(
            max_pending
        )
        self.on_result = on_result
        self.dropped = 0
        self.task: asyncio.Task[None] | None = None

    def offer(self, req: InferRequest, target: VersionPredictor) -> None:
        try:
            self.queue.put_nowait((req, target))
        except asyncio.QueueFull:
            self.dropped += 1
            return
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while not self.queue.empty():
            req, target = self.queue.get_nowait()
            try:
                answer: Answer | None = await target.predict(req)
                assert answer is not None
                answer.role = "shadow"
            except Exception as exc:  # a shadow's failure is logged, never felt by the caller
                log.warning(
                    "shadow failed",
                    extra={
                        "prediction_id": req.id,
                        "model_version": target.info.ref,
                        "error": f"{type(exc).__name__}: {exc}",
                    },
                )
                answer = None
            self.on_result(req, answer)


class Shadow:
    """Mirror (a sample of) requests to shadow versions after the answer has been sent."""

    def __init__(
        self,
        primary: Predictor,
        shadows: Sequence[VersionPredictor],
        queue: ShadowQueue,
        sample: float = 1.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.primary = primary
        self.shadows = tuple(shadows)
        self.queue = queue
        self.sample = sample
        self.rand = rand

    async def predict(self, req: InferRequest) -> Answer:
        answer = await self.primary.predict(req)
        if self.sample >= 1.0 or self.rand() < self.sample:
            for target in self.shadows:
                req.after.append(partial(self.queue.offer, req, target))
        return answer
