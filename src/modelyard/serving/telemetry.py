"""Where answers are reported: metrics, traces, the prediction log and observers (monitoring).

One path for every answer: ``answered`` and ``failed`` take the main answers of the inference
routes (``protocol`` ``v1`` / ``v2`` / ``v1-explain``) and the mirrored answers of shadow
versions (``protocol`` ``SHADOW``, through ``shadow_results``). Main answers count in
``modelyard_requests`` and their request span; shadow answers in the shadow result counter.
The prediction log takes a main answer here unless ``prediction_log.durability`` is
``acknowledged`` (then ``commit`` wrote it before the answer was sent) and every shadow answer.
Everything here runs on the event loop after the answer is sent and only appends to memory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from modelyard.core.endpoint_config import PredictionLogConfig
from modelyard.core.errors import ModelyardError
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.predictor import Answer, InferRequest, Observer
from modelyard.serving.predlog import PredictionLog, acknowledged
from modelyard.serving.tracing import Tracing

log = logging.getLogger("modelyard.serving")
SHADOW = "shadow"  # the protocol label of a mirrored request's answer


class Telemetry:
    def __init__(
        self,
        metrics: ServingMetrics,
        predlog: PredictionLog | None,
        observers: list[Observer] | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.metrics = metrics
        self.predlog = predlog
        self.observers: list[Observer] = observers or []
        self.tracing = tracing  # None when traces are off: nothing is paid

    async def commit(
        self, endpoint: str, config: PredictionLogConfig, req: InferRequest, answer: Answer
    ) -> None:
        """``prediction_log.durability: acknowledged``: the answer is on disk before it is
        sent (a group commit off the event loop, see ``durable_log``)."""
        if self.predlog is not None and acknowledged(config):
            latency = time.perf_counter() - req.started
            await self.predlog.commit(endpoint, config, answer.version.pii, req.id, latency, answer)

    def answered(
        self,
        endpoint: str,
        config: PredictionLogConfig,
        req: InferRequest,
        answer: Answer,
        protocol: str,
    ) -> None:
        elapsed = time.perf_counter() - req.started
        shadow = protocol == SHADOW
        if shadow:
            self.metrics.shadow_result(endpoint, answer.version.ref, "ok")
        else:
            self.metrics.request(endpoint, answer.version.ref, protocol, 200, elapsed)
            if self.tracing is not None:
                self.tracing.answered(
                    endpoint,
                    req.id,
                    200,
                    answer.version.ref,
                    answer.frame.n if answer.frame is not None else None,
                    answer.fallback_reason,
                )
        if self.predlog is not None and (shadow or not acknowledged(config)):
            self.predlog.record(endpoint, config, answer.version.pii, req.id, elapsed, answer)
        for obs in self.observers:
            obs.observe(endpoint, req.id, answer, elapsed)

    def failed(
        self,
        endpoint: str,
        prediction_id: str,
        exc: ModelyardError | None,
        protocol: str,
        started: float,
    ) -> None:
        """A refused or failed request; ``exc`` is None for a shadow version that raised (its
        error is logged where it was caught)."""
        elapsed = time.perf_counter() - started
        if exc is None:
            self.metrics.shadow_result(endpoint, "?", "error")
            for obs in self.observers:
                obs.observe(endpoint, prediction_id, None, elapsed, None)
            return
        version = str(exc.details.get("model_version", "-"))
        known = None if version == "-" else version
        self.metrics.request(endpoint, version, protocol, exc.http_status, elapsed)
        if self.tracing is not None:
            status = exc.http_status
            self.tracing.answered(endpoint, prediction_id, status, known, error=exc.message)
        if exc.http_status >= 500:
            for obs in self.observers:
                obs.observe(endpoint, prediction_id, None, elapsed, known)
            log.error(
                exc.message,
                extra={"prediction_id": prediction_id, "endpoint": endpoint, "code": exc.code},
                exc_info=exc.__cause__ if exc.__cause__ is not None else None,
            )

    def shadow_results(
        self, endpoint: str, config: PredictionLogConfig
    ) -> Callable[[InferRequest, Answer | None], None]:
        """What a shadow queue calls with each mirrored answer (None: the shadow raised)."""

        def result(req: InferRequest, answer: Answer | None) -> None:
            if answer is None:
                self.failed(endpoint, req.id, None, SHADOW, req.started)
            else:
                self.answered(endpoint, config, req, answer, SHADOW)

        return result
