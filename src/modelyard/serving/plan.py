"""Deployment plans as in-memory snapshots, refreshed from the store by a background task.

The hot path reads ``ServingState.endpoints`` (a dict swapped whole on change) and never the
database. A refresher polls each endpoint's generation (one indexed read) every
``refresh_s``; when it moves, it reads the routes, loads any new versions on a worker thread
(loading and compiling never block the event loop), builds the new wrapper stacks and swaps
them in. Requests already inside the old stack finish on it, so a deploy or rollback reaches a
running server without a restart and without a failed request.

Run-time overrides (``store.routes.set_overrides``, e.g. a playbook's throttle) are
read with each changed plan and merged over the project file's endpoint settings; setting them
bumps the generation, so they apply at the next refresh.

A version that fails to load never stops the server: its routes are left out of the plan, the
endpoint (when it was the production version) or the version answers 503 with the reason, the
failure is counted (``modelyard_version_load_failures_total``) and the refresher retries it
with exponential backoff (1 s, 2 s, 4 s … at most ``RETRY_MAX_S``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from modelyard.core.endpoint_config import EndpointConfig, ThrottleConfig
from modelyard.core.errors import NotFound
from modelyard.core.lifecycle import Role
from modelyard.registry.registry import ModelVersion
from modelyard.serving.batching import Batcher
from modelyard.serving.cache import Cached, PredictionCache
from modelyard.serving.endpoint import Endpoint
from modelyard.serving.errors import NotReady
from modelyard.serving.loading import ModelPool
from modelyard.serving.predictor import Predictor, VersionPredictor
from modelyard.serving.routing import Fallback, Router, Segment, Shadow, ShadowQueue
from modelyard.serving.sources import PlanSource, PlanSpec
from modelyard.serving.telemetry import Telemetry
from modelyard.serving.throttle import Limiter
from modelyard.serving.tracing import BatchClock

log = logging.getLogger("modelyard.serving")
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0


@dataclass
class LoadFailure:
    ref: str
    reason: str
    attempts: int
    retry_at: float


class EndpointBuilder:
    """Builds an endpoint's wrapper stack from a PlanSpec (on the event loop: cheap)."""

    def __init__(self, pool: ModelPool, telemetry: Telemetry) -> None:
        self.pool = pool
        self.telemetry = telemetry
        self.limiters: dict[str, Limiter] = {}
        self.caches: dict[str, PredictionCache] = {}
        self.shadow_queues: dict[str, ShadowQueue] = {}

    def build(
        self, spec: PlanSpec, config: EndpointConfig, failed: dict[int, str] | None = None
    ) -> Endpoint:
        """The endpoint's stack; versions in ``failed`` (id → reason) are left out."""
        name = spec.endpoint
        failed = failed or {}
        metrics = self.telemetry.metrics
        limiter = self.limiters.get(name)
        if limiter is None or limiter.config != config.throttle:
            # requests admitted by the old limiter leave through it (they hold a reference)
            limiter = self.limiters[name] = Limiter(
                name, config.throttle, on_refused=lambda: metrics.throttle(name)
            )
        cache = None
        if config.cache.enabled:
            cache = self.caches.setdefault(
                name, PredictionCache(config.cache.max_entries, config.cache.ttl_s)
            )
            cache.clear()  # a plan change invalidates every cached answer
        ep = Endpoint(name, spec.generation, config, None, {}, [], limiter, None)
        by_id: dict[int, VersionPredictor] = {}
        # The endpoint's callers send the fields of every version it routes to (a canary may
        # read fewer columns than the champion): those are never "extra" for another version.
        shared_fields = frozenset(
            n
            for mv in [r.version for r in spec.routes] + list(spec.extra.values())
            if mv.id not in failed and mv.id in self.pool.loaded
            for n in self.pool.loaded[mv.id].schema.names
        )

        def version(mv: ModelVersion, role: str) -> VersionPredictor:
            vp = by_id.get(mv.id)
            if vp is None:
                vp = by_id[mv.id] = self._version(ep, mv, config, cache, shared_fields)
                vp.role = role
                ep.versions[mv.version] = vp
            return vp

        production: Predictor | None = None
        canaries: list[tuple[float, VersionPredictor]] = []
        shadows: list[VersionPredictor] = []
        fallback: VersionPredictor | None = None
        for r in spec.routes:
            reason = failed.get(r.version.id)
            if reason is not None:
                ep.failed[r.version.version] = reason
                ep.routes.append(_route(r.version, r.role, r.weight, None, error=reason))
                if r.role == Role.PRODUCTION:
                    ep.not_ready = f"production version {r.version.ref} failed to load: {reason}"
                continue
            vp = version(r.version, r.role)
            ep.routes.append(_route(r.version, r.role, r.weight, vp))
            if r.role == Role.PRODUCTION:
                production = vp
                ep.default = vp
            elif r.role == Role.CANARY:
                canaries.append((r.weight, vp))
            elif r.role == Role.SHADOW:
                shadows.append(vp)
            elif r.role == Role.FALLBACK:
                fallback = vp
        if (
            fallback is None
            and config.fallback
            and config.fallback in spec.extra
            and spec.extra[config.fallback].id not in failed
        ):
            extra = spec.extra[config.fallback]
            fallback = version(extra, Role.FALLBACK.value)
            ep.routes.append(_route(extra, "fallback", 0.0, fallback, source="modelyard.yaml"))
        if ep.default is None and canaries:
            ep.default = canaries[0][1]

        def guard(p: Predictor) -> Predictor:
            if fallback is None or p is fallback:
                return p
            return Fallback(
                p,
                fallback,
                config.latency_budget_ms / 1000 if config.latency_budget_ms else None,
                on_fallback=lambda reason: metrics.fallback(name, reason),
            )

        segments = []
        for rule in config.segments:
            mv = spec.extra.get(rule.model)
            if mv is None or mv.id in failed:
                continue
            target = version(mv, "segment")
            pos = target.schema.position.get(rule.feature) if rule.feature else None
            segments.append(Segment(rule, guard(target), pos))
        if ep.not_ready is not None or (production is None and not canaries and not segments):
            ep.predictor = None
            return ep
        top: Predictor = Router(
            guard(production) if production is not None else None,
            [(w, guard(p)) for w, p in canaries],
            segments,
            config.sticky_header,
        )
        if shadows:
            queue = self.shadow_queues.get(name)
            if queue is None:
                on_result = self.telemetry.shadow_results(name, config.prediction_log)
                queue = ShadowQueue(config.shadow.max_pending, on_result)
                self.shadow_queues[name] = queue
            top = Shadow(top, shadows, queue, config.shadow.sample)
        ep.predictor = top
        return ep

    def _version(
        self,
        ep: Endpoint,
        mv: ModelVersion,
        config: EndpointConfig,
        cache: PredictionCache | None,
        shared_fields: frozenset[str] = frozenset(),
    ) -> VersionPredictor:
        loaded = self.pool.loaded[mv.id]
        metrics = self.telemetry.metrics
        tracing = self.telemetry.tracing
        on_batch: Callable[[int, int], None] = partial(metrics.batch, ep.name, mv.ref)
        model_run: Any = loaded.runtime.run
        schema = loaded.schema.tolerating(shared_fields)
        clock = None
        if tracing is not None:  # only then: spans for validation, queue wait, model call
            clock = BatchClock()
            model_run = clock.timed(model_run)
            on_batch = clock.on_batch(on_batch)
            schema = tracing.traced_schema(schema)
        batcher = Batcher(
            model_run,
            max_rows=config.batching.max_batch_rows,
            max_wait_s=config.batching.max_wait_ms / 1000,
            inline=loaded.inline,
            enabled=config.batching.enabled,
            executor=loaded.executor,
            on_batch=on_batch,
        )
        run: Any = batcher.submit
        if tracing is not None and clock is not None:
            run = tracing.traced_submit(run, clock)
        if cache is not None:
            run = Cached(
                run, cache, mv.id, on_lookup=lambda hit: metrics.cache_lookup(ep.name, hit)
            )
        return VersionPredictor(
            loaded.info,
            schema,
            loaded.runtime.outputs,
            run,
            config.max_rows,
            loaded.runtime.kind,
            exact=getattr(loaded.runtime, "explain", None),
            tree=loaded.tree,
        )


# ---- the state the app reads ----------------------------------------------------------------
class ServingState:
    def __init__(
        self,
        source: PlanSource,
        pool: ModelPool,
        configs: dict[str, EndpointConfig],
        telemetry: Telemetry,
        refresh_s: float = 1.0,
        overrides: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> None:
        self.source = source
        self.overrides = overrides  # blocking reader of an endpoint's run-time overrides
        self.override_docs: dict[str, dict[str, Any] | None] = {}
        self.failures: dict[int, LoadFailure] = {}  # model version id → its last load failure
        self.pending: dict[str, PlanSpec] = {}  # endpoints whose plan has a failed version
        self.pool = pool
        self.configs = configs
        self.telemetry = telemetry
        self.refresh_s = refresh_s
        self.builder = EndpointBuilder(pool, telemetry)
        self.endpoints: dict[str, Endpoint] = {}
        self.ready = False
        self.task: asyncio.Task[None] | None = None
        self.on_change: list[Callable[[str], None]] = []

    def endpoint(self, name: str, detail: bool = True) -> Endpoint:
        """The endpoint a route names, or NotFound (listing the endpoints only with
        ``detail``: an anonymous caller is not told which exist) / NotReady while loading."""
        ep = self.endpoints.get(name)
        if ep is None:
            if not self.ready:
                raise NotReady("the server is still loading its deployment plans")
            if not detail:
                raise NotFound(f"no endpoint {name!r}")
            known = ", ".join(sorted(self.endpoints)) or "none"
            raise NotFound(f"no endpoint {name!r}", hint=f"endpoints served here: {known}")
        return ep

    async def start(self) -> None:
        await self.refresh()
        self.ready = True
        # a static source (serve MODEL@VERSION) still needs the loop to retry failed loads
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except Exception:  # the store may be briefly unreachable: keep the last plan
                log.exception("plan refresh failed; serving the last known plan")

    async def refresh(self) -> bool:
        known = {n: e.generation for n, e in self.endpoints.items()}
        specs = await asyncio.to_thread(self._fetch_and_load, known)
        if not specs:
            return False
        new = dict(self.endpoints)
        for name, spec in specs.items():
            config = self.config_of(name)
            failed = {
                mv.id: self.failures[mv.id].reason
                for mv in _versions(spec)
                if mv.id in self.failures
            }
            new[name] = self.builder.build(spec, config, failed)
            new[name].overrides = self.override_docs.get(name)
            self.telemetry.metrics.plan_generation.labels(name).set(spec.generation)
            log.info(
                "plan loaded",
                extra={"endpoint": name, "generation": spec.generation, "routes": new[name].routes},
            )
        self.endpoints = new  # one reference swap: requests see the old plan or the new one
        keep = {vp.info.id for ep in new.values() for vp in ep.versions.values()}
        self.pool.retire(keep)
        for name in specs:
            for cb in self.on_change:
                cb(name)
        return True

    def config_of(self, name: str) -> EndpointConfig:
        """The project file's settings for an endpoint with its run-time overrides applied."""
        config = self.configs.get(name) or EndpointConfig()
        doc = self.override_docs.get(name)
        if doc and doc.get("throttle") is not None:
            try:
                merged = {**config.throttle.model_dump(exclude_unset=True), **doc["throttle"]}
                throttle = ThrottleConfig.model_validate(merged)
            except ValueError as exc:  # written by a newer or older server: keep the file's
                log.warning(
                    "endpoint overrides ignored", extra={"endpoint": name, "error": str(exc)}
                )
            else:
                config = config.model_copy(update={"throttle": throttle})
        return config

    def _fetch_and_load(self, known: dict[str, int]) -> dict[str, PlanSpec] | None:
        """Blocking: changed plans, plus plans whose failed versions now load."""
        specs = dict(self.source.fetch(known) or {})
        now = time.monotonic()
        for name, spec in self.pending.items():
            if name in specs:
                continue
            due = [mv for mv in _versions(spec) if self._due(mv.id, now)]
            if due and any(self._load(mv) for mv in due):
                specs[name] = spec  # recovered (at least partly): rebuild it
        if not specs:
            return None
        for name, spec in specs.items():
            if self.overrides is not None:
                self.override_docs[name] = self.overrides(name)
            for mv in _versions(spec):
                if mv.id not in self.failures or self._due(mv.id, now):
                    self._load(mv)
            if any(mv.id in self.failures for mv in _versions(spec)):
                self.pending[name] = spec
            else:
                self.pending.pop(name, None)
        return specs

    def _due(self, version_id: int, now: float) -> bool:
        failure = self.failures.get(version_id)
        return failure is not None and failure.retry_at <= now

    def _load(self, mv: ModelVersion) -> bool:
        """Load one version; on failure record it (with its next retry time) and go on."""
        try:
            self.pool.load(mv)
        except Exception as exc:
            before = self.failures.get(mv.id)
            attempts = before.attempts + 1 if before is not None else 1
            delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (attempts - 1))
            reason = f"{type(exc).__name__}: {exc}"
            self.failures[mv.id] = LoadFailure(mv.ref, reason, attempts, time.monotonic() + delay)
            self.telemetry.metrics.load_failure(mv.ref)
            log.error(
                "model version failed to load; other versions serve, retrying",
                extra={
                    "model_version": mv.ref,
                    "error": reason,
                    "attempt": attempts,
                    "retry_in_s": delay,
                },
            )
            return False
        if self.failures.pop(mv.id, None) is not None:
            log.info("model version loaded after earlier failures", extra={"model_version": mv.ref})
        return True


def _route(
    mv: ModelVersion, role: str, weight: float, vp: VersionPredictor | None, **extra: str
) -> dict[str, Any]:
    """One route as the status routes and the plan log show it."""
    return {
        "model_version": mv.ref,
        "role": role,
        "weight": weight,
        "state": mv.state,
        "runtime": vp.runtime_kind if vp is not None else None,
        **extra,
    }


def _versions(spec: PlanSpec) -> list[ModelVersion]:
    return [r.version for r in spec.routes] + list(spec.extra.values())
