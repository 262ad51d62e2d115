"""API tokens: random, shown once, stored only as a SHA-256 hash, with expiry and revocation.

A token is ``my_<id>_<secret>``. The secret has 256 bits of entropy, so a plain SHA-256 (not a
slow password hash) is the right tool: brute force is already out of reach, and verification
stays cheap on every request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from modelyard.core.errors import InvalidInput, Unauthenticated
from modelyard.core.governance import AccessRole
from modelyard.core.identity import principal_id
from modelyard.core.operations_records import TokenRecord
from modelyard.core.project import validate_name
from modelyard.security.access import Identity
from modelyard.store.governance import GovernanceStore, expired
from modelyard.store.metadata import MetadataStore, Row

PREFIX = "my_"


@dataclass(frozen=True)
class NewToken:
    id: str
    name: str
    role: AccessRole
    secret: str  # the full token; shown once, never stored
    expires_at: dt.datetime | None
    principal: str = ""  # whose token it is


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


secret_digest = _hash  # what the store keeps of a secret (for in-memory checks)


def create(
    store: MetadataStore,
    name: str,
    role: str,
    actor: str,
    expires_days: float | None = None,
    principal: str | None = None,
) -> NewToken:
    """A new token for ``principal`` (a name → ``user:<name>``, or ``os:<uid>:<name>`` to tie
    it to a local account; default: a principal named after the token). One principal may
    hold several tokens; none of them may approve that principal's own versions."""
    validate_name(name, "token name")
    owner = principal_id(principal if principal is not None else name)
    try:
        access = AccessRole(role)
    except ValueError:
        allowed = ", ".join(r.value for r in AccessRole)
        raise InvalidInput(f"unknown role {role!r}: expected one of {allowed}") from None
    check_expiry_days(expires_days)
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_days) if expires_days else None
    GovernanceStore(store).add_token(
        {
            "id": token_id,
            "name": name,
            "role": access.value,
            "principal": owner,
            "secret_hash": _hash(secret),
            "created_by": actor,
            "expires_at": expires,
        }
    )
    return NewToken(token_id, name, access, f"{PREFIX}{token_id}_{secret}", expires, owner)


MAX_EXPIRY_DAYS = 36_600  # a century; 1e308 days would overflow a datetime


_LISTED = (
    "id",
    "name",
    "role",
    "principal",
    "created_by",
    "created_at",
    "expires_at",
    "revoked_at",
)


def list_tokens(store: MetadataStore) -> list[Row]:
    """Every token with its owner, role and dates, never its hash."""
    return [{k: getattr(r, k) for k in _LISTED} for r in GovernanceStore(store).tokens()]


def check_expiry_days(value: object) -> None:
    """``expires_days``: a finite number of days, 0 < days <= MAX_EXPIRY_DAYS (or None)."""
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= MAX_EXPIRY_DAYS  # NaN fails this too
    ):
        raise InvalidInput(
            f"expires_days must be a number of days above 0 and at most {MAX_EXPIRY_DAYS}, "
            f"got {value!r}",
            hint="leave it out for a token that does not expire",
        )


def authenticate(store: MetadataStore, presented: str) -> Identity:
    """The identity behind a presented token, or Unauthenticated saying why not."""
    token_id, secret = split(presented)
    return verify(GovernanceStore(store).token(token_id), token_id, secret)


def split(presented: str) -> tuple[str, str]:
    """``my_<id>_<secret>`` → (id, secret), or Unauthenticated."""
    if not presented.startswith(PREFIX) or presented.count("_") < 2:
        raise Unauthenticated("malformed token: expected my_<id>_<secret>")
    token_id, _, secret = presented[len(PREFIX) :].partition("_")
    return token_id, secret


def verify(
    row: TokenRecord | None, token_id: str, secret: str, at: dt.datetime | None = None
) -> Identity:
    """Check a presented secret against its stored row (no I/O): the one rule for both the
    store-backed ``authenticate`` and the serving hot path's in-memory snapshot."""
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
        raise Unauthenticated("unknown token")
    return _identity(row, at)


def identity_of(store: MetadataStore, token_id: str) -> Identity:
    """The identity of a token already verified once (a dashboard session bound to it): the
    same revocation and expiry checks as ``authenticate``, so revoking ends its sessions."""
    row = GovernanceStore(store).token(token_id)
    if row is None:
        raise Unauthenticated("unknown token")
    return _identity(row)


def _identity(row: TokenRecord, at: dt.datetime | None = None) -> Identity:
    if row.revoked_at is not None:
        raise Unauthenticated(f"token {row.name!r} was revoked")
    if expired(row, at):
        raise Unauthenticated(f"token {row.name!r} expired at {row.expires_at:%Y-%m-%d %H:%M}")
    return Identity(
        name=row.name,
        role=AccessRole(row.role),
        token_id=row.id,
        principal=row.principal or f"user:{row.name}",
    )


def revoke(store: MetadataStore, name: str, actor: str, reason: str = "revoked") -> None:
    GovernanceStore(store).revoke_token(name, actor, reason)
