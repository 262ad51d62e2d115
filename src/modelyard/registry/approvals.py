"""Approvals: the policy says how many reviewers, and whether an author may approve their own.

Who decides is an :class:`Identity` with a principal id (the token's owner, or the local OS
account), and four-eyes compares principals, never names: a second token of the author, or a
token that merely has a different name, is still the author.

A decision commits only with what it causes: the approval row, its audit entry and (when the
count is reached, or on a rejection) the transition are one transaction, and every check runs
inside it on the locked row. A refused decision leaves nothing but the error.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.core.errors import Conflict, IllegalTransition, InvalidInput, PermissionDenied
from modelyard.core.identity import same_principal
from modelyard.core.lifecycle import State
from modelyard.core.operations_records import ApprovalDecision
from modelyard.registry.registry import ModelVersion, Registry
from modelyard.security.access import Identity
from modelyard.store.database import Connection
from modelyard.store.governance import GovernanceStore
from modelyard.store.runs import RunStore


@dataclass(frozen=True)
class Decision:
    version: ModelVersion
    approvals: int
    required: int
    approved: bool


def authors_of(conn: Connection, mv: ModelVersion) -> set[str]:
    """The principals who authored ``mv``: who registered it, and who started its run."""
    found = {mv.principal or f"legacy:{mv.created_by}"}
    if mv.run_id:
        found.add(RunStore.author(conn, mv.run_id))
    return found


def current_approvers(reg: Registry, mv: ModelVersion) -> list[str]:
    """Approvers (names) since the version last became validated, one per principal."""
    return [a.actor for a in GovernanceStore(reg.store).current_approvers(mv.id)]


def decisions(reg: Registry, mv: ModelVersion) -> list[ApprovalDecision]:
    """Every approval and rejection recorded for the version, oldest first."""
    return GovernanceStore(reg.store).decisions(mv.id)


def _who(who: Identity) -> None:
    if not who.principal:
        raise PermissionDenied(f"{who.name} has no principal id; cannot record a decision")


def approve(reg: Registry, ref: str, who: Identity, comment: str) -> Decision:
    if not comment.strip():
        raise InvalidInput("an approval needs a comment (--comment)")
    _who(who)
    mv = reg.model_version(ref)
    policy = reg.config.governance.approvals
    gov = GovernanceStore(reg.store)
    with reg.store.tx() as conn:
        mv = reg.store.versions.locked(conn, mv.id)
        if mv.state != State.VALIDATED.value:
            raise IllegalTransition(
                f"cannot approve {mv.ref}: it is {mv.state}; only validated versions can be "
                "approved",
                hint="run `modelyard gate` first" if mv.state == State.PROPOSED.value else None,
            )
        if policy.four_eyes and any(
            same_principal(a, who.name, who.principal) for a in authors_of(conn, mv)
        ):
            raise PermissionDenied(
                f"{who.name} ({who.principal}) may not approve {mv.ref}: that principal "
                "authored it and the policy requires someone else's approval (four eyes)",
                hint="ask a reviewer, or set governance.approvals.four_eyes: false",
            )
        approvers = gov.current_approvers(mv.id, conn)
        if any(same_principal(a.principal, who.name, who.principal) for a in approvers):
            raise Conflict(f"{who.name} ({who.principal}) has already approved {mv.ref}")
        gov.add_decision(conn, mv.id, who.name, who.principal, "approve", comment, _target(mv))
        names = [a.actor for a in approvers] + [who.name]
        done = len(names) >= policy.required
        if done:
            reason = f"approved by {', '.join(names)}: {comment}"
            reg.store.versions.transition_in(conn, mv, State.APPROVED, who.name, reason)
    if done:
        mv = reg.model_version(mv.ref)
    return Decision(mv, len(names), policy.required, done)


def reject(reg: Registry, ref: str, who: Identity, comment: str) -> ModelVersion:
    if not comment.strip():
        raise InvalidInput("a rejection needs a comment (--comment) saying why")
    _who(who)
    mv = reg.model_version(ref)
    with reg.store.tx() as conn:
        mv = reg.store.versions.locked(conn, mv.id)
        GovernanceStore(reg.store).add_decision(
            conn, mv.id, who.name, who.principal, "reject", comment, _target(mv)
        )
        # refused (e.g. a deployed version): raises, and the decision above rolls back with it
        reason = f"rejected by {who.name}: {comment}"
        reg.store.versions.transition_in(conn, mv, State.REJECTED, who.name, reason)
    return reg.model_version(mv.ref)


def _target(mv: ModelVersion) -> str:
    return f"model:{mv.ref}"
