"""Where deployment plans come from: one version (``serve MODEL@VERSION``) or the store.

``fetch`` is blocking (it reads the store) and runs on a worker thread; it returns only the
endpoints whose generation moved since the last look, with their routes resolved to model
versions the lifecycle allows to serve.
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
        self.names = names
        self.discover_every = discover_every
        self.ticks = 0

    def fetch(self, known: dict[str, int]) -> dict[str, PlanSpec] | None:
        store = self.reg.store
        endpoints = set(known)
        if self.ticks % self.discover_every == 0 or not known:
            endpoints |= {r["endpoint"] for r in store.routes()}
            endpoints |= set(self.configs)
        self.ticks += 1
        if self.names is not None:
            endpoints &= self.names
        changed: dict[str, PlanSpec] = {}
        for name in sorted(endpoints):
            gen = store.endpoint_generation(name)
            if known.get(name) == gen:
                continue
            changed[name] = self._spec(name, gen)
        return changed or None

    def _spec(self, name: str, gen: int) -> PlanSpec:
        routes = []
        for row in self.reg.store.routes(name):
            mv = ModelVersion.from_row(
                self.reg.store.get_model_version_by_id(row["model_version_id"])
            )
            if not _allowed(mv, ROUTABLE):
                log.warning(
                    "route skipped: version not routable",
                    extra={"endpoint": name, "model_version": mv.ref, "state": mv.state},
                )
                continue
            if mv.state == State.DEPRECATED:
                log.warning("serving a deprecated version", extra={"model_version": mv.ref})
            routes.append(RouteEntry(mv, row["role"], float(row["weight"])))
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
        return PlanSpec(name, gen, routes, extra)
