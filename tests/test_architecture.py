"""The layers as a specification: the adapters never reach into the store.

The import contracts (``pyproject.toml``, ``make lint``) forbid ``cli``, ``web`` and ``demo``
importing ``modelyard.store``; this guards the other way in, an attribute: ``reg.store.routes``,
``AlertBook(reg.store)``. Adapters call the services (``registry.queries``, ``registry.access``,
``registry.endpoints``, the monitoring services' ``of(reg)``) and orchestration, which own the
rules. Orchestration still builds the repositories of its own state itself (rollouts and
playbook runs): its count is a ceiling that may only go down.
"""

from __future__ import annotations

import ast
from pathlib import Path

import modelyard

SRC = Path(modelyard.__file__).parent
ADAPTERS = ("cli", "web", "demo")
# `RolloutStore(reg.store)` (canary, operations, retrain) and `PlaybookStore(reg.store)` (the
# runner's records, manual runs): lower it when they get a service, never raise it
ORCHESTRATION_CEILING = 9


def store_reaches(package: str) -> list[str]:
    """Every ``<anything>.store`` attribute in the package's modules, as ``file:line``."""
    found = []
    for path in sorted((SRC / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lines = sorted(
            {n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "store"}
        )
        found += [f"{path.relative_to(SRC.parent)}:{line}" for line in lines]
    return found


def test_adapters_never_touch_the_store() -> None:
    for package in ADAPTERS:
        reaches = store_reaches(package)
        assert not reaches, (
            f"modelyard.{package} reaches into the store (call a service instead):\n"
            + "\n".join(reaches)
        )


def test_orchestration_reaches_into_the_store_no_more_than_it_did() -> None:
    reaches = store_reaches("orchestration")
    assert len(reaches) <= ORCHESTRATION_CEILING, (
        f"orchestration reaches into the store {len(reaches)} times (ceiling "
        f"{ORCHESTRATION_CEILING}): a new use goes through a service\n" + "\n".join(reaches)
    )
