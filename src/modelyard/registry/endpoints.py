"""An endpoint's runtime overrides (e.g. a throttle laid over the project file's limits):
reading them and replacing them; running servers pick a change up at their next plan refresh.
"""

from __future__ import annotations

from typing import Any

from modelyard.registry.registry import Registry


def overrides(reg: Registry, endpoint: str) -> dict[str, Any] | None:
    """The endpoint's runtime overrides, or None."""
    return reg.store.routes.overrides(endpoint)


def set_overrides(
    reg: Registry, endpoint: str, overrides: dict[str, Any] | None, actor: str, reason: str
) -> int:
    """Replace the endpoint's runtime overrides (None clears them). Audited; returns the new
    plan generation."""
    return reg.store.routes.set_overrides(endpoint, overrides, actor, reason)
