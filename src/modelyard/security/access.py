"""Who is acting, and may they? One mechanism every management endpoint and verb goes through."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.core.errors import PermissionDenied
from modelyard.core.governance import ROLE_PERMISSIONS, AccessRole, Permission


@dataclass(frozen=True)
class Identity:
    name: str
    role: AccessRole
    token_id: str | None = None  # None: local single-user mode (the OS user)

    def can(self, permission: Permission | str) -> bool:
        return Permission(permission) in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission | str, action: str = "") -> None:
        """Deny by default: raise unless the role's row in the table grants the permission."""
        perm = Permission(permission)
        if not self.can(perm):
            allowed = sorted(r.value for r, perms in ROLE_PERMISSIONS.items() if perm in perms)
            raise PermissionDenied(
                f"{self.name} (role {self.role.value}) may not {action or perm.value}: "
                f"it needs the '{perm.value}' permission",
                hint=f"roles with it: {', '.join(allowed)}",
            )


def local_identity(user: str) -> Identity:
    """Local single-user mode (no server): the OS user acts with every permission."""
    return Identity(name=user, role=AccessRole.ADMIN)


def permission_table() -> list[tuple[str, list[str]]]:
    """(role, permissions) rows, for the generated docs table."""
    return [
        (role.value, sorted(p.value for p in perms)) for role, perms in ROLE_PERMISSIONS.items()
    ]
