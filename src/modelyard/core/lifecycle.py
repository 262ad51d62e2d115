"""The model-version lifecycle as data: states, legal transitions and the reason for refusals.

proposed → validated | rejected → approved → deployed (canary, production) → deprecated → retired.
Pure rules, no I/O: the registry applies them inside a store transaction.
"""

from __future__ import annotations

from enum import StrEnum

from modelyard.core.errors import IllegalTransition


class State(StrEnum):
    PROPOSED = "proposed"
    VALIDATED = "validated"
    REJECTED = "rejected"
    APPROVED = "approved"
    DEPLOYED = "deployed"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


class Role(StrEnum):
    """How a deployed version takes part in an endpoint's traffic."""

    PRODUCTION = "production"
    CANARY = "canary"
    SHADOW = "shadow"
    FALLBACK = "fallback"


# from-state -> allowed to-states. A version leaves "deployed" when its last route is removed
# (back to "approved": it stays a last-known-good candidate) or when it is deprecated.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.PROPOSED: frozenset({State.VALIDATED, State.REJECTED, State.RETIRED}),
    State.VALIDATED: frozenset({State.APPROVED, State.REJECTED, State.PROPOSED, State.RETIRED}),
    State.REJECTED: frozenset({State.PROPOSED, State.RETIRED}),
    State.APPROVED: frozenset({State.DEPLOYED, State.DEPRECATED, State.RETIRED, State.PROPOSED}),
    State.DEPLOYED: frozenset({State.APPROVED, State.DEPRECATED}),
    State.DEPRECATED: frozenset({State.RETIRED}),
    State.RETIRED: frozenset(),
}

# States from which a version may receive traffic.
DEPLOYABLE: frozenset[State] = frozenset({State.APPROVED, State.DEPLOYED})
# States in which a version may keep serving (deprecated still serves while migrating, flagged).
ROUTABLE: frozenset[State] = frozenset({State.DEPLOYED, State.DEPRECATED})

_WHY = {
    State.RETIRED: "it is retired: retired versions are archived and can never change again",
    State.DEPLOYED: "it is serving traffic; remove its routes (undeploy) or deprecate it first",
    State.REJECTED: "it was rejected by the gates; re-propose it (fix and re-gate) first",
    State.PROPOSED: "it has not passed the gates yet; run `modelyard gate` first",
    State.VALIDATED: "it has not been approved yet; run `modelyard approve` first",
    State.DEPRECATED: "it is deprecated; it can only be retired",
}


def check_transition(current: State | str, target: State | str, *, what: str = "version") -> None:
    """Raise IllegalTransition with the reason if ``current → target`` is not allowed."""
    cur, tgt = State(current), State(target)
    if tgt in TRANSITIONS[cur]:
        return
    allowed = ", ".join(sorted(s.value for s in TRANSITIONS[cur])) or "none"
    reason = _WHY.get(cur, f"it is {cur.value}")
    raise IllegalTransition(
        f"cannot move {what} from {cur.value} to {tgt.value}: {reason}",
        hint=f"allowed from {cur.value}: {allowed}",
        current=cur.value,
        target=tgt.value,
    )


def check_deployable(current: State | str, *, what: str = "version") -> None:
    cur = State(current)
    if cur in DEPLOYABLE:
        return
    raise IllegalTransition(
        f"cannot deploy {what}: it is {cur.value}; only approved versions may receive traffic",
        hint=_WHY.get(cur),
        current=cur.value,
    )
