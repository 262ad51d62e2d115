"""Dashboard sessions: what a browser's cookie stands for.

Signing in (an API token, or the per-launch secret of ``modelyard ui``) starts a session: a
random 256-bit secret goes to the browser in an HttpOnly cookie, the store keeps only its
SHA-256 with the principal, what it is bound to, a CSRF token and an expiry. The API token
itself never travels in a cookie. The session lives in the store rather than in one process
so that every replica behind a load balancer resolves it and signing out on one ends it on
all; a signed cookie alone could not be ended before it expires.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from modelyard.store.metadata import MetadataStore
from modelyard.store.sessions import SessionStore

SESSION_HOURS = 12.0  # a session ends this long after sign-in, whatever happens


@dataclass(frozen=True)
class Session:
    secret: str  # the cookie value; never stored
    binding: str  # "token:<id>" or "launch:<hash>"
    principal: str
    csrf: str  # the synchronizer token every form of this session carries

    @property
    def token_id(self) -> str | None:
        kind, _, value = self.binding.partition(":")
        return value if kind == "token" else None

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf, presented or "")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_binding(token_id: str) -> str:
    return f"token:{token_id}"


def launch_binding(launch_secret: str) -> str:
    """Sessions of one `modelyard ui` launch: a restart (a new secret) ends them."""
    return f"launch:{_hash(launch_secret)}"


def start(
    store: MetadataStore, binding: str, principal: str, hours: float = SESSION_HOURS
) -> Session:
    session = Session(secrets.token_urlsafe(32), binding, principal, secrets.token_urlsafe(32))
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)
    SessionStore(store).add(_hash(session.secret), binding, principal, session.csrf, expires)
    return session


def resolve(store: MetadataStore, secret: str | None) -> Session | None:
    """The live session a cookie names, or None (missing, unknown, expired or ended)."""
    if not secret:
        return None
    row = SessionStore(store).get(_hash(secret))
    if row is None:
        return None
    return Session(secret, row.binding, row.principal, row.csrf)


def end(store: MetadataStore, secret: str) -> bool:
    """Sign out: the session is gone for every replica at once."""
    return SessionStore(store).remove(_hash(secret))
