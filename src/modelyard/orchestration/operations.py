"""Deploy, roll back, deprecate and retire: lifecycle operations over endpoint routes.

Delivery strategies: ``direct`` (the version replaces the champion), ``blue-green`` (it
replaces the champion and the old one stays loaded as a zero-weight fallback route, so a
rollback is instant), ``shadow`` (it gets a mirror of the traffic) and ``canary``
(``rollout.canary``). Every one of them refuses a version the gates have not cleared.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from modelyard.core.lifecycle import DEPLOYABLE, Role, State
from modelyard.core.rollout_config import STRATEGIES
from modelyard.registry import queries
from modelyard.registry.registry import ModelVersion, Registry


@dataclass(frozen=True)
class RollbackResult:
    endpoint: str
    from_version: str | None
    to_version: str


@dataclass(frozen=True)
class BlueGreenResult:
    endpoint: str
    live: str  # the new champion
    standby: str | None  # the old champion, kept warm as the fallback route
    released: tuple[str, ...]  # earlier standbys whose routes were removed


def ensure_cleared(reg: Registry, mv: ModelVersion) -> None:
    """Refuse a deployment the gates and governance have not cleared: the version must be
    approved (or already deployed), its latest gate report must not have failed (and must
    exist when the model's policy requires one), and the approvals the governance policy
    requires must still be on record."""
    from modelyard.core.errors import PermissionDenied
    from modelyard.registry.admission import gate_clearance
    from modelyard.registry.approvals import current_approvers

    clearance = gate_clearance(reg, mv)
    if not clearance.allowed:
        raise IllegalTransition(
            f"cannot deploy {mv.ref}: {clearance.reason}",
            hint="gate it (`modelyard gate`), then approve it (`modelyard approve`)",
            current=mv.state,
        )
    required = reg.config.governance.approvals.required
    if required and mv.state == State.APPROVED.value:
        approvers = current_approvers(reg, mv)
        if len(approvers) < required:
            raise PermissionDenied(
                f"cannot deploy {mv.ref}: {len(approvers)} of {required} required approval(s)",
                hint=f"a reviewer runs `modelyard approve {mv.ref} --comment ...`",
            )


def resolve_strategy(reg: Registry, ref: str, requested: str | None) -> str:
    """The command line's strategy, else the model's ``rollout.strategy``, else direct."""
    if requested is not None:
        if requested not in STRATEGIES:
            raise InvalidInput(
                f"unknown strategy {requested!r}: expected one of {', '.join(STRATEGIES)}"
            )
        return requested
    return str(reg.config.model(reg.model_version(ref).model_name).rollout.strategy)


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
    mv = reg.model_version(ref)
    ensure_cleared(reg, mv)
    return reg.deploy(mv, endpoint, role=r, weight=weight, reason=reason, actor=actor)


def blue_green(
    reg: Registry, ref: str, endpoint: str, reason: str = "deployed", actor: str | None = None
) -> BlueGreenResult:
    """Make ``ref`` the champion at once and keep the old champion loaded as the endpoint's
    fallback route (weight 0): it answers if the new one fails, and ``rollback`` returns to it
    without loading anything. An earlier standby is released (its route removed; it stays
    approved, a last-known-good candidate)."""
    mv = reg.model_version(ref)
    ensure_cleared(reg, mv)
    old = champion(reg, endpoint)
    if old is not None and old.id == mv.id:
        raise Conflict(f"{mv.ref} is already the champion of {endpoint}")
    who = actor or reg.settings.user
    # the new champion first: the endpoint always has a production route
    reg.deploy(mv, endpoint, Role.PRODUCTION, 1.0, f"blue-green: {reason}", actor)
    standby = None
    if old is not None:
        old = reg.model_version(old.ref)
        from modelyard.registry.admission import gate_clearance

        if gate_clearance(reg, old).allowed:
            reg.deploy(old, endpoint, Role.FALLBACK, 0.0, f"blue-green standby for {mv.ref}", actor)
            standby = old.ref
    released = []
    for r in queries.routes(reg, endpoint):
        if r.role != Role.FALLBACK.value or r.model_version_id in (
            mv.id,
            old.id if old else None,
        ):
            continue
        reg.undeploy(r.ref, endpoint, f"standby replaced: {reason}", who)
        released.append(f"{r.model_name}@{r.version}")
    return BlueGreenResult(endpoint, mv.ref, standby, tuple(released))


def shadow(
    reg: Registry,
    ref: str,
    endpoint: str,
    sample: float | None = None,
    reason: str = "shadow",
    actor: str | None = None,
) -> ModelVersion:
    """Mirror (a ``sample`` share of) the endpoint's traffic to ``ref`` after each answer is
    sent: callers only ever get the champion's answers; the shadow's are logged under the same
    prediction id (compare them with ``shadow_report``)."""
    mv = reg.model_version(ref)
    if sample is None:
        sample = reg.config.model(mv.model_name).rollout.shadow_sample
    if not 0.0 < sample <= 1.0:
        raise InvalidInput(f"--sample must be a share in (0, 1], got {sample}")
    current = champion(reg, endpoint)
    if current is None:
        raise Conflict(
            f"endpoint {endpoint!r} has no champion to mirror",
            hint=f"deploy one first: `modelyard deploy MODEL@VERSION --to {endpoint}`",
        )
    if current.id == mv.id:
        raise Conflict(f"{mv.ref} is the champion of {endpoint}; a shadow must be another version")
    ensure_cleared(reg, mv)
    return reg.deploy(mv, endpoint, Role.SHADOW, sample, reason, actor)


def champion(reg: Registry, endpoint: str) -> ModelVersion | None:
    for r in queries.routes(reg, endpoint):
        if r.role == Role.PRODUCTION.value:
            return queries.version_by_id(reg, r.model_version_id)
    return None


def last_known_good(reg: Registry, endpoint: str) -> ModelVersion:
    """The most recent earlier production version of the endpoint that may still serve."""
    current = champion(reg, endpoint)
    seen: set[str] = set()
    entries = queries.audit_entries(reg, f"endpoint:{endpoint}", "endpoint.route")
    for e in reversed(entries):
        if e.target != f"endpoint:{endpoint}" or e.data.get("role") != Role.PRODUCTION.value:
            continue
        ref = e.data["version"]
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
    canaries = [r for r in queries.routes(reg, endpoint) if r.role == Role.CANARY.value]
    try:
        target = reg.model_version(to) if to else last_known_good(reg, endpoint)
    except NotFound:
        if not (canaries and current is not None):
            raise
        # the first release's champion has no predecessor, and it is the last-known-good of
        # its canary: rolling back takes the canary off and keeps the champion
        target = current
        replaced: str | None = canaries[0].ref
    else:
        if current and target.id == current.id:
            raise Conflict(f"{target.ref} is already the champion of {endpoint}")
        replaced = current.ref if current else None
    for r in canaries:
        reg.undeploy(r.ref, endpoint, f"rollback: {reason}", actor)
    if target is not current:
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
            row.id,
            actor or reg.settings.user,
            "rollout.rollback",
            f"manual rollback: {reason}",
            status="rolled_back",
        )
    return RollbackResult(endpoint, replaced, target.ref)


def deprecate(reg: Registry, ref: str, reason: str) -> ModelVersion:
    """Deprecated versions keep serving while callers migrate, and are flagged in the catalog."""
    return reg.transition(ref, State.DEPRECATED, reason=reason)


def retire(reg: Registry, ref: str, reason: str, actor: str | None = None) -> ModelVersion:
    """Remove every route, then archive: a retired version can never be routed again."""
    mv = reg.model_version(ref)
    for r in queries.routes(reg):
        if r.model_version_id == mv.id:
            reg.undeploy(mv, r.endpoint, f"retire: {reason}", actor)
    mv = reg.model_version(ref)
    if mv.state == State.DEPLOYED.value:
        mv = reg.transition(mv, State.APPROVED, reason=f"retire: {reason}", actor=actor)
    return reg.transition(mv, State.RETIRED, reason=reason, actor=actor)
