"""Which version the candidate is compared with: the champion.

1. The version serving with role ``production`` on the policy's endpoint (default: an endpoint
   named like the model), when that is not the candidate itself.
2. Otherwise, the newest other version of the same model that is ``deployed`` or ``approved``
   (the last one a person signed off).
3. Otherwise there is no champion: comparisons are shown as "not judged".
"""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.core.gate_policy import GatePolicy
from modelyard.core.lifecycle import Role, State
from modelyard.registry.registry import ModelVersion, Registry


@dataclass(frozen=True)
class Champion:
    version: ModelVersion
    rule: str


def find_champion(reg: Registry, candidate: ModelVersion, policy: GatePolicy) -> Champion | None:
    endpoint = policy.endpoint or candidate.model_name
    for route in reg.store.routes.all(endpoint):
        if route.role == Role.PRODUCTION.value and route.model_version_id != candidate.id:
            row = reg.store.versions.by_id(route.model_version_id)
            return Champion(row, f"production on endpoint {endpoint}")
    eligible = [
        v
        for v in reg.model_versions(candidate.model_name)
        if v.id != candidate.id and v.state in (State.DEPLOYED.value, State.APPROVED.value)
    ]
    if not eligible:
        return None
    newest = max(eligible, key=lambda v: v.version)
    return Champion(newest, f"newest {newest.state} version of {candidate.model_name}")
