"""Who is acting, and may they? One mechanism every management endpoint and verb goes through."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.core.errors import PermissionDenied
from modelyard.core.governance import ROLE_PERMISSIONS, AccessRole, Permission
from modelyard.core.identity import Actor, principal_id


@dataclass(frozen=True)
class Identity:
    name: str  # display name (the token's name, or the local user's)
    role: AccessRole
    token_id: str | None = None  # None: local single-user mode (the OS user)
    # who it is (core/identity.py): the token's owner, or the local OS account. Four-eyes and
    # the audit log compare and record this, never the name.
    principal: str = ""

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


def local_identity(actor: Actor | str) -> Identity:
    """Local single-user mode (no server): the OS user acts with every permission. A bare
    name (Python callers, tests) is the named principal ``user:<name>``."""
    if isinstance(actor, str):
        actor = Actor(actor, principal_id(actor))
    return Identity(name=actor.name, role=AccessRole.ADMIN, principal=actor.principal)


def permission_table() -> list[tuple[str, list[str]]]:
    """(role, permissions) rows, for the generated docs table."""
    return [
        (role.value, sorted(p.value for p in perms)) for role, perms in ROLE_PERMISSIONS.items()
    ]


def permission_markdown(routes: list[tuple[str, str, str]] | None = None) -> str:
    """The permission table as Markdown (docs/permissions.md is this output, kept in step by
    a test). ``routes``: (method, path, permission) of the management API."""
    perms = list(Permission)
    lines = [
        "# Roles and permissions",
        "",
        "Generated from the code (`modelyard token roles --markdown`); a test keeps it true.",
        "Everything not granted here is denied.",
        "",
        "A token acts for its principal (`modelyard token create --principal NAME`; one",
        "principal may hold several tokens). Four-eyes compares principals, not names: no",
        "token of a version's author may approve it. Locally the OS account acts;",
        "`MODELYARD_USER` is refused unless the project file says `identity: os`.",
        "",
        "| role | " + " | ".join(p.value for p in perms) + " |",
        "|---|" + "---|" * len(perms),
    ]
    for role, granted in ROLE_PERMISSIONS.items():
        marks = " | ".join("yes" if p in granted else "" for p in perms)
        lines.append(f"| {role.value} | {marks} |")
    if routes:
        lines += ["", "## Management API", "", "| method | route | permission |", "|---|---|---|"]
        lines += [f"| {m} | `{p}` | {perm} |" for m, p, perm in routes]
    return "\n".join(lines) + "\n"
