"""Checks by name. Built-ins are listed as import paths and imported only when a policy uses
them; plug-ins register a factory under a new name and are then used exactly like built-ins
(``plugins: {name: {options}}`` in the policy).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any

from modelyard.core.errors import ConfigError
from modelyard.gates.base import Check

# name -> "module:ClassName"; the class is built with its policy section.
BUILTIN: dict[str, str] = {
    "schema": "modelyard.gates.checks.schema:SchemaCheck",
    "metrics": "modelyard.gates.checks.metrics:MetricsCheck",
    "segments": "modelyard.gates.checks.segments:SegmentsCheck",
    "fairness": "modelyard.gates.checks.fairness:FairnessCheck",
    "calibration": "modelyard.gates.checks.calibration:CalibrationCheck",
    "robustness": "modelyard.gates.checks.robustness:RobustnessCheck",
    "kpi": "modelyard.gates.checks.kpi:KpiCheck",
    "cost": "modelyard.gates.checks.cost:CostCheck",
    "explain": "modelyard.gates.checks.explain:ExplainCheck",
    "reproducibility": "modelyard.gates.checks.reproducibility:ReproducibilityCheck",
    "load": "modelyard.gates.checks.load:LoadCheck",
}

CheckFactory = Callable[[Any], Check]
_REGISTERED: dict[str, CheckFactory] = {}


def register_check(name: str, factory: CheckFactory) -> None:
    """Make ``factory(options) -> Check`` available to policies as ``plugins: {name: …}``."""
    if not name.isidentifier():
        raise ConfigError(f"check name {name!r} must be an identifier (letters, digits, _)")
    if name in BUILTIN:
        raise ConfigError(f"check name {name!r} is a built-in check; choose another name")
    _REGISTERED[name] = factory


def unregister_check(name: str) -> None:
    _REGISTERED.pop(name, None)


def available() -> list[str]:
    return sorted({*BUILTIN, *_REGISTERED})


def factory(name: str) -> CheckFactory:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in BUILTIN:
        module, _, cls = BUILTIN[name].partition(":")
        built: CheckFactory = getattr(importlib.import_module(module), cls)
        return built
    close = difflib.get_close_matches(name, available(), n=1)
    raise ConfigError(
        f"unknown gate check {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
        hint=f"available checks: {', '.join(available())}; plug-ins must call "
        "modelyard.gates.register_check before the gate runs",
    )


def build(name: str, options: Any) -> Check:
    return factory(name)(options)
