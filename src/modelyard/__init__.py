"""modelyard: the production pipeline for ML models.

The top level stays light to import; the API loads on first use::

    import modelyard
    project = modelyard.Project.open(".")
    with project.start_run(model="churn", seed=0) as run:
        ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from modelyard.registry.registry import DatasetVersion, ModelVersion
    from modelyard.registry.registry import Registry as Project

__all__ = ["DatasetVersion", "ModelVersion", "Project", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Project":
        from modelyard.registry.registry import Registry

        return Registry
    if name in ("DatasetVersion", "ModelVersion"):
        from modelyard.registry import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'modelyard' has no attribute {name!r}")
