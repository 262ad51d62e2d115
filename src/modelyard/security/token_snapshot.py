"""API tokens verified from memory: a snapshot of the token table, refreshed off the hot path.

``tokens.authenticate`` reads the store, which is right for the management API (a few requests
a second) and wrong for inference (thousands a second, each of which would pay a query). The
serving layer holds a ``TokenSnapshot`` instead: ``refresh`` (blocking, run on a worker thread
by a background task, like the routing plan) reads every token row once and swaps one dict;
``authenticate`` is a dict lookup, a SHA-256 and a constant-time compare against an identity
built at refresh; any other outcome goes through ``tokens.verify``, the same rules (and
messages) as the management API. A token created or revoked in the store takes effect at the
next refresh; expiry is checked at each request against the clock.
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
import time
from collections.abc import Callable

from modelyard.core.errors import Unauthenticated
from modelyard.core.governance import AccessRole
from modelyard.core.operations_records import TokenRecord
from modelyard.security.access import Identity
from modelyard.security.tokens import secret_digest, split, verify
from modelyard.store.governance import GovernanceStore
from modelyard.store.metadata import MetadataStore


class TokenSnapshot:
    def __init__(self, read: Callable[[], list[TokenRecord]]) -> None:
        self._read = read
        self._rows: dict[str, TokenRecord] = {}
        # usable tokens only (not revoked): id → (secret hash, expiry, identity), so that the
        # common case builds nothing; anything else goes through tokens.verify for its message
        self._usable: dict[str, tuple[str, float, Identity]] = {}  # expiry as epoch seconds
        self.loaded = False
        self.refreshed_at: dt.datetime | None = None

    @classmethod
    def of(cls, store: MetadataStore) -> TokenSnapshot:
        return cls(GovernanceStore(store).tokens)

    def refresh(self) -> None:
        """Blocking: read the token table and swap the snapshot in (one assignment each)."""
        rows = {r.id: r for r in self._read()}
        usable = {
            token_id: (
                r.secret_hash,
                r.expires_at.timestamp() if r.expires_at is not None else math.inf,
                Identity(
                    name=r.name,
                    role=AccessRole(r.role),
                    token_id=token_id,
                    principal=r.principal or f"user:{r.name}",
                ),
            )
            for token_id, r in rows.items()
            if r.revoked_at is None
        }
        self._rows, self._usable = rows, usable
        self.loaded = True
        self.refreshed_at = dt.datetime.now(dt.UTC)

    def __len__(self) -> int:
        return len(self._rows)

    def active(self) -> int:
        """Tokens neither revoked nor expired (for the start-up check)."""
        now = time.time()
        return sum(1 for _, expires, _ in self._usable.values() if expires > now)

    def authenticate(self, presented: str) -> Identity:
        """The identity behind a presented token, from memory; Unauthenticated saying why not."""
        if not self.loaded:
            raise Unauthenticated("the server has not loaded its API tokens yet")
        token_id, secret = split(presented)
        entry = self._usable.get(token_id)
        if entry is not None:
            digest, expires, identity = entry
            if expires > time.time() and hmac.compare_digest(digest, secret_digest(secret)):
                return identity
        return verify(self._rows.get(token_id), token_id, secret)  # raises, naming why
