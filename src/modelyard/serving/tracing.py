"""OpenTelemetry traces of inference requests — only when configured, free when off.

``MODELYARD_TRACES`` chooses the exporter: ``otlp`` (OTLP/HTTP to
``OTEL_EXPORTER_OTLP_ENDPOINT``; needs the ``otlp`` extra), ``console`` (one JSON span per line
on stdout, or appended to ``MODELYARD_TRACES_FILE``) or ``off`` (the default). When off, the app
holds ``tracing = None`` and the hot path pays one ``is None`` test per request.

When on, each inference request is one SERVER span (``modelyard.infer``) continuing the
caller's W3C ``traceparent`` when there is one, with attributes ``modelyard.endpoint``,
``modelyard.model_version`` (the version that answered), ``modelyard.prediction_id``,
``modelyard.protocol``, ``http.response.status_code``, ``modelyard.rows`` and
``modelyard.fallback_reason``. Its children: ``validate`` (the input checked against the
version's signature), ``queue`` (waiting for the model in the adaptive batcher) and ``predict``
(the model call that answered it, with the batch's ``modelyard.batch.requests`` and
``modelyard.batch.rows``). Spans are exported in batches by a background thread
(``BatchSpanProcessor``), never on the request's path.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from modelyard.core.errors import ConfigError, ModelyardError

log = logging.getLogger("modelyard.serving")
Outputs = dict[str, Any]
SERVICE = "modelyard"


class BatchClock:
    """Times of one version's model calls, for the spans of the requests they answered.

    ``timed`` wraps the runtime (it may run on the version's worker thread); the batcher's
    ``on_batch`` runs on the event loop after the call and right before the batch's answers
    are delivered, so ``last`` describes the batch a request just got its answer from.
    """

    def __init__(self) -> None:
        self.call: tuple[int, int] = (0, 0)
        self.last: tuple[int, int, int, int] = (0, 0, 0, 0)

    def timed(self, run: Callable[[Any, frozenset[str]], Outputs]) -> Callable[..., Outputs]:
        def timed_run(frame: Any, want: frozenset[str]) -> Outputs:
            t0 = time.time_ns()
            try:
                return run(frame, want)
            finally:
                self.call = (t0, time.time_ns())

        return timed_run

    def on_batch(self, then: Callable[[int, int], None]) -> Callable[[int, int], None]:
        def batch(requests: int, rows: int) -> None:
            self.last = (*self.call, requests, rows)
            then(requests, rows)

        return batch


class Tracing:
    def __init__(self, provider: Any) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self.tracer = provider.get_tracer("modelyard.serving")
        self.propagator = TraceContextTextMapPropagator()
        self.context = context
        self.trace = trace
        self.server_kind = trace.SpanKind.SERVER
        self.error = trace.StatusCode.ERROR

    @classmethod
    def from_settings(
        cls, mode: str, file: Path | None = None, otlp_endpoint: str | None = None
    ) -> Tracing | None:
        """The tracing of a server, or None when traces are off."""
        if mode == "off":
            return None
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        exporter: Any
        if mode == "console":
            exporter = console_exporter(file)
        elif mode == "otlp":
            exporter = otlp_exporter(otlp_endpoint)
        else:
            raise ConfigError(f"unknown trace mode {mode!r}; expected otlp, console or off")
        provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        return cls(provider)

    # ---- the request span ---------------------------------------------------------------
    async def request(self, scope: Any, protocol: str, work: Awaitable[None]) -> None:
        """Run ``work`` (one inference request) inside its SERVER span."""
        carrier = {}
        for k, v in scope["headers"]:
            if k == b"traceparent" or k == b"tracestate":
                carrier[k.decode()] = v.decode("latin-1")
        parent = self.propagator.extract(carrier) if carrier else None
        span = self.tracer.start_span(
            "modelyard.infer",
            context=parent,
            kind=self.server_kind,
            attributes={"modelyard.protocol": protocol, "url.path": scope["path"]},
        )
        token = self.context.attach(self.trace.set_span_in_context(span, parent))
        try:
            await work
        except ModelyardError as exc:  # answered by the app's error handler
            span.set_attribute("http.response.status_code", exc.http_status)
            span.set_attribute("modelyard.error", exc.code)
            span.set_status(self.error, exc.message)
            raise
        finally:
            self.context.detach(token)
            span.end()

    def answered(
        self,
        endpoint: str,
        prediction_id: str,
        status: int,
        version: str | None,
        rows: int | None = None,
        fallback_reason: str | None = None,
        error: str | None = None,
    ) -> None:
        """Attributes of the current request span, once its answer is known."""
        span = self.trace.get_current_span()
        span.set_attribute("modelyard.endpoint", endpoint)
        span.set_attribute("modelyard.prediction_id", prediction_id)
        span.set_attribute("http.response.status_code", status)
        if version:
            span.set_attribute("modelyard.model_version", version)
        if rows is not None:
            span.set_attribute("modelyard.rows", rows)
        if fallback_reason:
            span.set_attribute("modelyard.fallback_reason", fallback_reason)
        if error is not None:
            span.set_status(self.error, error)

    # ---- child spans -------------------------------------------------------------------
    def traced_schema(self, schema: Any) -> Any:
        """A copy of a version's schema whose ``validate`` records a ``validate`` span."""
        traced = copy.copy(schema)
        validate = schema.validate
        tracer = self.tracer

        def traced_validate(payload: Any, max_rows: int) -> Any:
            with tracer.start_as_current_span("validate"):
                return validate(payload, max_rows)

        traced.validate = traced_validate
        return traced

    def traced_submit(
        self, submit: Callable[[Any, frozenset[str]], Awaitable[Outputs]], clock: BatchClock
    ) -> Callable[[Any, frozenset[str]], Awaitable[Outputs]]:
        """Wrap a batcher's ``submit``: ``queue`` and ``predict`` spans per request."""
        tracer = self.tracer
        error = self.error

        async def traced(frame: Any, want: frozenset[str]) -> Outputs:
            queued = time.time_ns()
            failed: BaseException | None = None
            try:
                return await submit(frame, want)
            except BaseException as exc:
                failed = exc
                raise
            finally:
                t0, t1, requests, rows = clock.last
                if t0 >= queued:  # the batch that answered (not a cancelled wait)
                    tracer.start_span("queue", start_time=queued).end(end_time=t0)
                    span = tracer.start_span(
                        "predict",
                        start_time=t0,
                        attributes={
                            "modelyard.batch.requests": requests,
                            "modelyard.batch.rows": rows,
                        },
                    )
                    if failed is not None:
                        span.set_status(error, f"{type(failed).__name__}: {failed}")
                    span.end(end_time=max(t0, t1))

        return traced

    def shutdown(self) -> None:
        """Flush the spans still queued and stop the exporter (blocking: a worker thread)."""
        self.provider.shutdown()


def console_exporter(file: Path | None) -> Any:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    out: IO[str] = sys.stdout
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        out = file.open("a", buffering=1, encoding="utf-8")
    return ConsoleSpanExporter(
        service_name=SERVICE, out=out, formatter=lambda span: span.to_json(indent=None) + "\n"
    )


def otlp_exporter(endpoint: str | None) -> Any:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ConfigError(
            "MODELYARD_TRACES=otlp needs the OTLP exporter, which is not installed",
            hint="pip install 'modelyard[otlp]' (opentelemetry-exporter-otlp-proto-http)",
        ) from None
    if endpoint and not endpoint.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
