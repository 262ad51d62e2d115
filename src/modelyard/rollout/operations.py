"""Deploy, roll back, deprecate and retire: lifecycle operations over endpoint routes."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.core.errors import Conflict, InvalidInput, NotFound
from modelyard.core.lifecycle import DEPLOYABLE, Role, State
from modelyard.registry.registry import ModelVersion, Registry


@dataclass(frozen=True)
class RollbackResult:
    endpoint: str
    from_version: str | None
    to_version: str


def deploy(
    reg: Registry,
    ref: str,
    endpoint: str,
    role: str = "production",
    weight: float | None = None,
    reason: str = "deployed",
    actor: str | None = None,
) -> ModelVersion:
    """Route a version on an endpoint: ``production`` replaces the champion at once (direct);
    ``canary`` takes ``weight`` of the traffic; ``shadow`` gets a mirror; ``fallback`` answers
    when the primary fails."""
    try:
        r = Role(role)
    except ValueError:
        allowed = ", ".join(x.value for x in Role)
        raise InvalidInput(f"unknown role {role!r}: expected one of {allowed}") from None
    if weight is None:
        weight = 1.0 if r is Role.PRODUCTION else 0.1 if r is Role.CANARY else 0.0
    if r is Role.CANARY and not 0.0 < weight < 1.0:
        raise InvalidInput(f"a canary weight must be between 0 and 1 (exclusive), got {weight}")
    return reg.deploy(ref, endpoint, role=r, weight=weight, reason=reason, actor=actor)


def champion(reg: Registry, endpoint: str) -> ModelVersion | None:
    for r in reg.store.routes(endpoint):
        if r["role"] == Role.PRODUCTION.value:
            return ModelVersion.from_row(reg.store.get_model_version_by_id(r["model_version_id"]))
    return None


def last_known_good(reg: Registry, endpoint: str) -> ModelVersion:
    """The most recent earlier production version of the endpoint that may still serve."""
    current = champion(reg, endpoint)
    seen: set[str] = set()
    entries = reg.store.audit_entries(target_prefix=f"endpoint:{endpoint}", action="endpoint.route")
    for e in reversed(entries):
        if e["target"] != f"endpoint:{endpoint}" or e["data"].get("role") != Role.PRODUCTION.value:
            continue
        ref = e["data"]["version"]
        if (current and ref == current.ref) or ref in seen:
            continue
        seen.add(ref)
        mv = reg.model_version(ref)
        if State(mv.state) in DEPLOYABLE:
            return mv
    raise NotFound(
        f"endpoint {endpoint!r} has no earlier production version that can serve again",
        hint="deploy a specific version with `modelyard deploy MODEL@VERSION --to ENDPOINT`",
    )


def rollback(
    reg: Registry, endpoint: str, reason: str, to: str | None = None, actor: str | None = None
) -> RollbackResult:
    """Return the endpoint to its last-known-good version (or ``to``) in one transaction:
    the champion is swapped and canaries are removed, so a running server switches at once."""
    current = champion(reg, endpoint)
    target = reg.model_version(to) if to else last_known_good(reg, endpoint)
    if current and target.id == current.id:
        raise Conflict(f"{target.ref} is already the champion of {endpoint}")
    for r in reg.store.routes(endpoint):
        if r["role"] == Role.CANARY.value:
            reg.store.remove_route(
                endpoint, r["model_version_id"], actor or reg.settings.user, f"rollback: {reason}"
            )
    reg.deploy(
        target,
        endpoint,
        role=Role.PRODUCTION,
        weight=1.0,
        reason=f"rollback: {reason}",
        actor=actor,
    )
    from modelyard.store.rollouts import RUNNING, RolloutStore

    rollouts = RolloutStore(reg.store)
    for row in rollouts.list(endpoint, RUNNING):
        rollouts.save(
            row["id"],
            actor or reg.settings.user,
            "rollout.rollback",
            f"manual rollback: {reason}",
            status="rolled_back",
        )
    return RollbackResult(endpoint, current.ref if current else None, target.ref)


def deprecate(reg: Registry, ref: str, reason: str) -> ModelVersion:
    """Deprecated versions keep serving while callers migrate, and are flagged in the catalog."""
    return reg.transition(ref, State.DEPRECATED, reason=reason)


def retire(reg: Registry, ref: str, reason: str, actor: str | None = None) -> ModelVersion:
    """Remove every route, then archive: a retired version can never be routed again."""
    mv = reg.model_version(ref)
    for r in reg.store.routes():
        if r["model_version_id"] == mv.id:
            reg.store.remove_route(
                r["endpoint"], mv.id, actor or reg.settings.user, f"retire: {reason}"
            )
    mv = reg.model_version(ref)
    if mv.state == State.DEPLOYED.value:
        mv = reg.transition(mv, State.APPROVED, reason=f"retire: {reason}", actor=actor)
    return reg.transition(mv, State.RETIRED, reason=reason, actor=actor)
