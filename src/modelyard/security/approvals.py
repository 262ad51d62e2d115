"""Approvals: the policy says how many reviewers, and whether an author may approve their own."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.core.errors import Conflict, IllegalTransition, InvalidInput, PermissionDenied
from modelyard.core.lifecycle import State
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.store.governance import GovernanceStore


@dataclass(frozen=True)
class Decision:
    version: ModelVersion
    approvals: int
    required: int
    approved: bool


def authors_of(reg: Registry, mv: ModelVersion) -> set[str]:
    names = {mv.created_by}
    if mv.run_id:
        names.add(reg.store.get_run(mv.run_id)["created_by"])
    return names


def current_approvers(reg: Registry, mv: ModelVersion) -> list[str]:
    """Approvers since the version last became validated (a re-gated version starts afresh)."""
    return GovernanceStore(reg.store).current_approvers(mv.id)


def approve(reg: Registry, ref: str, actor: str, comment: str) -> Decision:
    if not comment.strip():
        raise InvalidInput("an approval needs a comment (--comment)")
    mv = reg.model_version(ref)
    if mv.state != State.VALIDATED.value:
        raise IllegalTransition(
            f"cannot approve {mv.ref}: it is {mv.state}; only validated versions can be approved",
            hint="run `modelyard gate` first" if mv.state == State.PROPOSED.value else None,
        )
    policy = reg.config.governance.approvals
    if policy.four_eyes and actor in authors_of(reg, mv):
        raise PermissionDenied(
            f"{actor} may not approve {mv.ref}: they authored it and the policy requires "
            "someone else's approval (four eyes)",
            hint="ask a reviewer, or set governance.approvals.four_eyes: false",
        )
    approvers = current_approvers(reg, mv)
    if actor in approvers:
        raise Conflict(f"{actor} has already approved {mv.ref}")
    GovernanceStore(reg.store).add_decision(mv.id, actor, "approve", comment, f"model:{mv.ref}")
    approvers.append(actor)
    done = len(approvers) >= policy.required
    if done:
        mv = reg.transition(
            mv,
            State.APPROVED,
            reason=f"approved by {', '.join(approvers)}: {comment}",
            actor=actor,
        )
    return Decision(mv, len(approvers), policy.required, done)


def reject(reg: Registry, ref: str, actor: str, comment: str) -> ModelVersion:
    if not comment.strip():
        raise InvalidInput("a rejection needs a comment (--comment) saying why")
    mv = reg.model_version(ref)
    GovernanceStore(reg.store).add_decision(mv.id, actor, "reject", comment, f"model:{mv.ref}")
    return reg.transition(mv, State.REJECTED, reason=f"rejected by {actor}: {comment}", actor=actor)
