"""Whether a model version may take traffic: its lifecycle state and its release-gate record.

One rule, used by ``deploy`` (before a route is written) and by servers (before a route is
loaded, so a route written into the store by hand cannot bypass it either).
"""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.core.lifecycle import DEPLOYABLE, ROUTABLE, State
from modelyard.registry.registry import ModelVersion, Registry


@dataclass(frozen=True)
class Clearance:
    allowed: bool
    reason: str  # why not (empty when allowed)


def gate_clearance(reg: Registry, mv: ModelVersion, *, serving: bool = False) -> Clearance:
    """May ``mv`` receive traffic? ``serving`` judges an existing route (deployed or
    deprecated versions keep serving); otherwise a new deployment (approved or deployed).

    The state must be the end of the version's recorded transitions and have passed through
    ``validated``; the latest gate report must not have failed; when the model's rollout
    policy sets ``require_gate_report`` a passing one must exist."""
    states = ROUTABLE if serving else DEPLOYABLE
    state = State(mv.state)
    if state not in states:
        wanted = ", ".join(sorted(s.value for s in states))
        return Clearance(False, f"{mv.ref} is {state.value}; traffic needs one of: {wanted}")
    # the state must be the one its recorded lifecycle reached, through validation: a state
    # written into the store by hand (no transition row, no audit entry) never takes traffic
    history = reg.store.versions.transitions_of(mv.id)
    recorded = history[-1].to_state if history else None
    if recorded != state.value:
        return Clearance(
            False,
            f"{mv.ref} is {state.value} in the store but its recorded lifecycle ends at "
            f"{recorded or 'nothing'}: the state was not set by a transition (edited by hand?)",
        )
    if not any(h.to_state == State.VALIDATED.value for h in history):
        return Clearance(False, f"{mv.ref} was never validated (no transition to validated)")
    gates = [r for r in reg.store.reports.of(mv.id) if r.kind == "gate"]
    if gates and not gates[-1].passed:
        return Clearance(
            False, f"{mv.ref} failed its latest release gates (report #{gates[-1].id})"
        )
    if not gates and reg.config.model(mv.model_name).rollout.require_gate_report:
        return Clearance(
            False,
            f"{mv.ref} has no gate report and models.{mv.model_name}.rollout."
            "require_gate_report is set; run `modelyard gate` first",
        )
    return Clearance(True, "")
