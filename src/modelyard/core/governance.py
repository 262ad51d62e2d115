"""Governance configuration (project file ``governance:``) and the role/permission table."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ApprovalPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    required: int = Field(
        default=0, ge=0, le=10, description="approvals needed before a version is approved"
    )
    four_eyes: bool = Field(
        default=True, description="the author of the version (or its run) may not approve it"
    )


class GovernanceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy)


class AccessRole(StrEnum):
    VIEWER = "viewer"
    DATA_SCIENTIST = "data-scientist"
    REVIEWER = "reviewer"
    DEPLOYER = "deployer"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"  # catalog, lineage, reports, metrics, audit
    PREDICT = "predict"  # inference endpoints
    FEEDBACK = "feedback"  # labels and reviews against prediction ids
    REGISTER = "register"  # datasets, runs, model versions
    GATE = "gate"  # run release gates
    APPROVE = "approve"  # approve / reject versions
    DEPLOY = "deploy"  # deploy, canary steps, rollback, undeploy
    RETIRE = "retire"  # deprecate, retire
    ADMIN = "admin"  # tokens, policy


# The permission table: least privilege, each role names exactly what it may do. The docs'
# table is generated from this (see `modelyard token roles`).
ROLE_PERMISSIONS: dict[AccessRole, frozenset[Permission]] = {
    AccessRole.VIEWER: frozenset({Permission.READ}),
    AccessRole.DATA_SCIENTIST: frozenset(
        {
            Permission.READ,
            Permission.PREDICT,
            Permission.FEEDBACK,
            Permission.REGISTER,
            Permission.GATE,
        }
    ),
    AccessRole.REVIEWER: frozenset({Permission.READ, Permission.FEEDBACK, Permission.APPROVE}),
    AccessRole.DEPLOYER: frozenset(
        {Permission.READ, Permission.PREDICT, Permission.DEPLOY, Permission.RETIRE}
    ),
    AccessRole.ADMIN: frozenset(Permission),
}


def allows(role: AccessRole | str, permission: Permission | str) -> bool:
    return Permission(permission) in ROLE_PERMISSIONS[AccessRole(role)]
