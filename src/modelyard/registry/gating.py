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

    The latest gate report must not have failed; when the model's rollout policy sets
    ``require_gate_report`` a passing one must exist."""
    states = ROUTABLE if serving else DEPLOYABLE
    state = State(mv.state)
    if state not in states:
        wanted = ", ".join(sorted(s.value for s in states))
        return Clearance(False, f"{mv.ref} is {state.value}; traffic needs one of: {wanted}")
    gates = [r for r in reg.store.reports_of(mv.id) if r["kind"] == "gate"]
    if gates and not gates[-1]["passed"]:
        return Clearance(
            False, f"{mv.ref} failed its latest release gates (report #{gates[-1]['id']})"
        )
    if not gates and reg.config.model(mv.model_name).rollout.require_gate_report:
        return Clearance(
            False,
            f"{mv.ref} has no gate report and models.{mv.model_name}.rollout."
            "require_gate_report is set; run `modelyard gate` first",
        )
    return Clearance(True, "")
