"""Assemble the serving stack and the uvicorn options it runs under (``cli.serve_app`` runs
it, composed with monitoring, the management API and the dashboard).

The stack: uvicorn with uvloop and httptools (the fastest loop and HTTP parser it offers), no
access log (it cost 16-19 % throughput in the anchors' measurements), one hand-written ASGI
app (see ``app``). After the plans are loaded, ``gc.freeze()`` moves the loaded models out of
the collector's way so collections stay short. ``--workers N`` runs N processes on one socket;
each loads its own models and has its own batchers (nothing is shared that another replica
would need) — except the metric files: ``/metrics`` of any worker reports all workers' counters
(``metrics.shared_metrics_dir``). Traces (``tracing``) are on only when ``MODELYARD_TRACES``
says so. ``serving.auth`` / ``serving.metrics_auth`` in the project file decide whether the app
checks bearer tokens (``auth``), from a snapshot refreshed every ``refresh_s``.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from modelyard.core.endpoint_config import EndpointConfig
from modelyard.registry.registry import Registry
from modelyard.security.token_snapshot import TokenSnapshot
from modelyard.serving.app import ServingApp
from modelyard.serving.auth import ServingAuth
from modelyard.serving.loading import ModelPool
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.plan import ServingState
from modelyard.serving.predictor import Observer
from modelyard.serving.predlog import PredictionLog
from modelyard.serving.sources import PlanSource, SingleVersion, StoreRoutes
from modelyard.serving.telemetry import Telemetry
from modelyard.serving.tracing import Tracing

SPEC_ENV = "MODELYARD_SERVE_SPEC"  # hands the spec to worker processes (read at the boundary)


@dataclass(frozen=True)
class ServeSpec:
    project: str
    ref: str | None = None
    endpoints: tuple[str, ...] | None = None
    refresh_s: float = 1.0
    log_level: str = "info"
    compile_paths: bool = True
    prediction_log: bool = True
    # --workers N: the folder where every worker's metrics live (see metrics.shared_metrics_dir)
    metrics_dir: str | None = None


def build_app(
    reg: Registry,
    spec: ServeSpec,
    *,
    close_registry: bool = False,
    observers: list[Observer] | None = None,
    on_startup: list[Callable[[], Awaitable[None]]] | None = None,
    on_shutdown: list[Callable[[], Awaitable[None]]] | None = None,
) -> ServingApp:
    """The serving app. ``observers`` and the hooks come from the composition layer (e.g.
    live monitoring), which serving does not import."""
    configs: dict[str, EndpointConfig] = dict(reg.config.endpoints)
    source: PlanSource
    if spec.ref:
        mv = reg.model_version(spec.ref)
        source = SingleVersion(reg, mv)
    else:
        source = StoreRoutes(reg, configs, set(spec.endpoints) if spec.endpoints else None)
    max_rows = max([c.batching.max_batch_rows for c in configs.values()] or [256])
    pool = ModelPool(reg, compile_paths=spec.compile_paths, max_rows=max_rows)
    metrics = ServingMetrics(spec.metrics_dir)
    tracing = Tracing.from_settings(
        reg.settings.traces, reg.settings.traces_file, reg.settings.otlp_endpoint
    )
    predlog = None
    if spec.prediction_log:
        predlog = PredictionLog.for_settings(reg.settings, configs, reg.artifacts.keyring)
    telemetry = Telemetry(metrics, predlog, observers, tracing)
    state = ServingState(
        source,
        pool,
        configs,
        telemetry,
        spec.refresh_s,
        overrides=reg.store.routes.overrides if source.dynamic else None,
    )
    serving = reg.config.serving
    auth = None
    if not (serving.inference_open and serving.metrics_open):
        auth = ServingAuth(TokenSnapshot.of(reg.store), serving, spec.refresh_s)
    flush_s = min([c.prediction_log.flush_every_s for c in configs.values()] or [1.0])

    async def started() -> None:
        if predlog is not None:
            predlog.start(flush_s)
        for hook in on_startup or []:
            await hook()
        gc.collect()
        gc.freeze()

    async def stopped() -> None:
        if predlog is not None:
            await predlog.stop()
        for hook in on_shutdown or []:
            await hook()
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)  # flush the spans still queued
        if close_registry:
            reg.close()

    return ServingApp(
        state, on_startup=[started], on_shutdown=[stopped], auth=auth, limits=reg.config.http
    )


def uvicorn_options(host: str, port: int, log_level: str) -> dict[str, Any]:
    return {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "lifespan": "on",
        "log_level": log_level,
        "server_header": False,
        "proxy_headers": False,  # no X-Forwarded-* rewriting middleware on the hot path
        "date_header": False,
        "timeout_keep_alive": 30,
    }
