"""Where deployment plans come from: one version (``serve MODEL@VERSION``) or the store.

``fetch`` is blocking (it reads the store) and runs on a worker thread; it returns only the
endpoints whose generation moved since the last look, with their routes resolved to model
versions the lifecycle allows to serve. A route to a version that may not serve (its state,
or a failed or missing release-gate record: ``registry.gating``) is refused here even when it
was written into the store by hand: it is skipped with an error naming the version and why,
and the rest of the endpoint keeps serving.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass, field

from modelyard.core.endpoint_config import EndpointConfig
from modelyard.core.errors import IllegalTransition, ModelyardError
from modelyard.core.lifecycle import DEPLOYABLE, ROUTABLE, Role, State
from modelyard.registry.registry import ModelVersion, Registry

log = logging.getLogger("modelyard.serving")


@dataclass(frozen=True)
class RouteEntry:
    version: ModelVersion
    role: str
    weight: float


@dataclass
class PlanSpec:
    """What the store says an endpoint should serve (resolved off the event loop)."""

    endpoint: str
    generation: int
    routes: list[RouteEntry]
    extra: dict[str, ModelVersion] = field(default_factory=dict)  # config refs → versions
    refused: list[dict[str, str]] = field(default_factory=list)  # {"version", "reason"}


class PlanSource(abc.ABC):
    """Where plans come from. ``dynamic`` sources are polled by the refresher."""

    dynamic = False

    @abc.abstractmethod
    def fetch(self, known: dict[str, int]) -> dict[str, PlanSpec] | None:
        """Blocking: the specs that changed since ``known`` (endpoint → generation)."""


def _allowed(mv: ModelVersion, states: frozenset[State]) -> bool:
    return State(mv.state) in states


class SingleVersion(PlanSource):
    """``modelyard serve MODEL@VERSION``: one version as the endpoint named after the model."""

    def __init__(self, reg: Registry, mv: ModelVersion) -> None:
        if mv.state == State.RETIRED:
            raise IllegalTransition(
                f"{mv.ref} is retired: retired versions are archived and never serve again",
                hint="serve a newer version, or register the model again",
            )
        self.reg = reg
        self.mv = mv
        self.done = False

    def fetch(self, known: dict[str, int]) -> dict[str, PlanSpec] | None:
        if self.done:
            return None
        self.done = True
        spec = PlanSpec(self.mv.model_name, 0, [RouteEntry(self.mv, Role.PRODUCTION.value, 1.0)])
        return {self.mv.model_name: spec}


class StoreRoutes(PlanSource):
    """Every endpoint with routes in the store (or only ``names``), polled by generation."""

    dynamic = True

    def __init__(
        self,
        reg: Registry,
        configs: dict[str, EndpointConfig],
        names: set[str] | None = None,
        discover_every: int = 5,
    ) -> None:
        self.reg = reg
        self.configs = configs
        self.declared = dict(configs)  # as in the project file, before per-route settings
        self.sampled: set[str] = set()  # endpoints whose config carries a route's shadow share
        self.names = names
        self.discover_every = discover_every
        self.ticks = 0

    def fetch(self, known: dict[str, int]) -> dict[str, PlanSpec] | None:
        store = self.reg.store
        endpoints = set(known)
        if self.ticks % self.discover_every == 0 or not known:
            endpoints |= {r.endpoint for r in store.routes.all()}
            endpoints |= set(self.configs)
        self.ticks += 1
        if self.names is not None:
            endpoints &= self.names
        changed: dict[str, PlanSpec] = {}
        for name in sorted(endpoints):
            gen = store.routes.generation(name)
            if known.get(name) == gen:
                continue
            changed[name] = self._spec(name, gen)
        return changed or None

    def _spec(self, name: str, gen: int) -> PlanSpec:
        from modelyard.registry.admission import gate_clearance

        routes = []
        refused: list[dict[str, str]] = []
        for row in self.reg.store.routes.all(name):
            mv = self.reg.store.versions.by_id(row.model_version_id)
            clearance = gate_clearance(self.reg, mv, serving=True)
            if not clearance.allowed:
                log.error(
                    f"route refused: {clearance.reason}",
                    extra={"endpoint": name, "model_version": mv.ref, "state": mv.state},
                )
                refused.append({"version": mv.ref, "reason": clearance.reason})
                continue
            if mv.state == State.DEPRECATED:
                log.warning("serving a deprecated version", extra={"model_version": mv.ref})
            routes.append(RouteEntry(mv, row.role, float(row.weight)))
        self._shadow_sample(name, routes)
        extra: dict[str, ModelVersion] = {}
        config = self.configs.get(name) or EndpointConfig()
        refs = [config.fallback] if config.fallback else []
        refs += [rule.model for rule in config.segments]
        for ref in refs:
            try:
                mv = self.reg.model_version(ref)
            except ModelyardError as exc:
                log.warning("config reference skipped", extra={"ref": ref, "error": str(exc)})
                continue
            if _allowed(mv, DEPLOYABLE | ROUTABLE):
                extra[ref] = mv
            else:
                log.warning(
                    "config reference skipped: lifecycle does not allow traffic",
                    extra={"ref": ref, "state": mv.state},
                )
        return PlanSpec(name, gen, routes, extra, refused)

    def _shadow_sample(self, name: str, routes: list[RouteEntry]) -> None:
        """A shadow route's weight, when set, is the share of requests mirrored to it
        (``deploy --strategy shadow --sample``); it overrides the endpoint's shadow.sample in
        the configuration the plan is built with."""
        declared = self.declared.get(name)
        samples = [r.weight for r in routes if r.role == Role.SHADOW and r.weight > 0]
        if not samples:
            if name in self.sampled:  # back to the project file's settings
                self.sampled.discard(name)
                if declared is None:
                    self.configs.pop(name, None)
                else:
                    self.configs[name] = declared
            return
        self.sampled.add(name)
        base = declared or EndpointConfig()
        shadow = base.shadow.model_copy(update={"sample": max(samples)})
        self.configs[name] = base.model_copy(update={"shadow": shadow})
