"""The project's access control and audit trail for the adapters: API tokens, dashboard
sessions, authentication, and reading, verifying, checkpointing and re-keying the audit chain.

The rules live in ``security`` (``tokens``, ``sessions``, ``audit``) and work on a store; these
functions apply them to the store of one ``Registry``, so the CLI, the dashboard and the demo
never hold the store themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelyard.core.audit import Checkpoint, VerifyResult
from modelyard.core.operations_records import AuditEntry
from modelyard.registry.registry import Registry
from modelyard.security import audit, sessions, tokens
from modelyard.security.access import Identity
from modelyard.security.sessions import Session
from modelyard.store.metadata import Row


# ---- API tokens --------------------------------------------------------------------------
def create_token(
    reg: Registry,
    name: str,
    role: str,
    actor: str,
    expires_days: float | None = None,
    principal: str | None = None,
) -> tokens.NewToken:
    """A new API token (``security.tokens.create``); its secret is shown once."""
    return tokens.create(reg.store, name, role, actor, expires_days, principal)


def revoke_token(reg: Registry, name: str, actor: str, reason: str = "revoked") -> None:
    tokens.revoke(reg.store, name, actor, reason)


def list_tokens(reg: Registry) -> list[Row]:
    """Every token with its owner, role and dates, never its hash."""
    return tokens.list_tokens(reg.store)


def authenticate(reg: Registry, presented: str) -> Identity:
    """The identity behind a presented token, or Unauthenticated saying why not."""
    return tokens.authenticate(reg.store, presented)


def token_identity(reg: Registry, token_id: str) -> Identity:
    """The identity of a token verified once before (revocation and expiry checked again)."""
    return tokens.identity_of(reg.store, token_id)


# ---- dashboard sessions ------------------------------------------------------------------
def start_session(reg: Registry, binding: str, principal: str) -> Session:
    return sessions.start(reg.store, binding, principal)


def resolve_session(reg: Registry, secret: str | None) -> Session | None:
    """The live session a cookie names, or None."""
    return sessions.resolve(reg.store, secret)


def end_session(reg: Registry, secret: str) -> bool:
    return sessions.end(reg.store, secret)


# ---- the audit trail ---------------------------------------------------------------------
def audit_history(reg: Registry, model: str | None = None, **filters: Any) -> list[AuditEntry]:
    """Audit entries about a model (``NAME`` or ``NAME@VERSION``) or all, filtered by actor,
    action and limit."""
    return audit.history(reg.store, model, **filters)


def verify_audit(reg: Registry) -> VerifyResult:
    """The chain checked against the configured key and every anchor."""
    return audit.verify_configured(reg.store)


def audit_signed(reg: Registry) -> bool:
    return audit.signed(reg.store)


def audit_anchors(reg: Registry) -> list[str]:
    return audit.anchor_urls(reg.store)


def checkpoint_audit(reg: Registry) -> Checkpoint:
    """A checkpoint of the chain's head written to every anchor (ConfigError without any)."""
    return audit.checkpoint(reg.store)


def rotate_audit_key(reg: Registry, new_key: Any, reason: str) -> int:
    """Hand audit signing over to ``new_key``, recorded as the registry's user."""
    return audit.rotate_signing_key(reg.store, new_key, reg.settings.user, reason)


def record_audit(
    reg: Registry, action: str, entries: Iterable[tuple[str, str, Mapping[str, Any]]]
) -> None:
    """Record entries of one ``action`` — each (target, reason, data) — by the registry's user,
    in one transaction."""
    with reg.store.tx() as conn:
        for target, reason, data in entries:
            reg.store.audit(conn, reg.settings.user, action, target, reason, data)


def least_privilege(reg: Registry, role: str, *, apply: bool = False) -> list[str]:
    """The grants that keep ``role`` from rewriting the audit log (run with ``apply``)."""
    return audit.least_privilege(reg.store, role, apply=apply)
