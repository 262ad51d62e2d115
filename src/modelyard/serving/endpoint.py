"""One endpoint of a plan snapshot: its wrapper stack, its versions and routes, and the lookups
the routes make on it (which version answers, why it cannot, which headers routing reads).

``plan.EndpointBuilder`` builds it; the app and ``inference`` only read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelyard.core.endpoint_config import EndpointConfig
from modelyard.core.errors import NotFound
from modelyard.serving.errors import NotReady
from modelyard.serving.predictor import Predictor, VersionPredictor
from modelyard.serving.throttle import Limiter


@dataclass
class Endpoint:
    name: str
    generation: int
    config: EndpointConfig
    predictor: Predictor | None
    versions: dict[int, VersionPredictor]
    routes: list[dict[str, Any]]
    limiter: Limiter
    default: VersionPredictor | None
    # versions of the plan that failed to load: version number → reason
    failed: dict[int, str] = field(default_factory=dict)
    # why the endpoint cannot answer as planned (its production version failed to load)
    not_ready: str | None = None
    overrides: dict[str, Any] | None = None
    # the request headers routing reads (segment headers, sticky key), lower-case
    routing_headers: frozenset[bytes] = field(init=False)

    def __post_init__(self) -> None:
        names = {r.header.lower().encode() for r in self.config.segments if r.header}
        if self.config.sticky_header:
            names.add(self.config.sticky_header.lower().encode())
        self.routing_headers = frozenset(names)

    def why_not(self) -> str:
        return self.not_ready or f"endpoint {self.name!r} has no version routed"

    def version(self, version: str | None) -> VersionPredictor:
        """The version asked for by number (its default, the champion, for None), or
        NotFound / NotReady saying why it cannot answer."""
        if version is None:
            if self.default is None:
                raise NotReady(self.why_not())
            return self.default
        try:
            vp = self.versions.get(int(version))
        except ValueError:
            vp = None
        if vp is None and version.isdigit() and int(version) in self.failed:
            raise NotReady(
                f"version {version} of endpoint {self.name!r} failed to load: "
                f"{self.failed[int(version)]}",
                hint="the server retries it with backoff; see modelyard_version_load_failures",
            )
        if vp is None:
            served = ", ".join(str(v) for v in sorted(self.versions)) or "none"
            raise NotFound(
                f"endpoint {self.name!r} does not serve version {version!r}",
                hint=f"versions in its plan: {served}",
            )
        return vp
