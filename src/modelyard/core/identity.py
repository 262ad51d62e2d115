"""Who acts: principal ids, and the local actor (the OS account, or a declared override).

A principal id names a person or process, not a display name:

- ``os:<uid>:<username>``: a local OS account, read from the process (``os.getuid`` and the
  password database), never from an environment variable;
- ``user:<name>``: a named principal that holds API tokens (one principal, many tokens);
- ``os:<uid>:<username>/as:<name>``: a ``MODELYARD_USER`` override, accepted only in projects
  that declare ``identity: os`` (one-person projects), and marked as such in the audit log;
- ``legacy:<name>``: a row written before principals existed (migration 0007).

Four-eyes and every authorship record compare these ids, never free-text names.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from modelyard.core.errors import ConfigError, InvalidInput

OVERRIDE = "/as:"
_NAME = r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}"
_PRINCIPAL = re.compile(rf"^(user:{_NAME}|os:\d+:{_NAME})$")

# The principal on whose behalf the current request acts (set by the web adapters around a
# handler, in the thread that runs it); the store records it in audit entries. Unset outside
# a request: the registry's own (local) principal is recorded.
_acting: ContextVar[str | None] = ContextVar("modelyard_acting_principal", default=None)


@dataclass(frozen=True)
class Actor:
    name: str  # shown in tables and reasons
    principal: str  # compared by four-eyes, recorded with every decision and audit entry

    @property
    def override(self) -> bool:
        return OVERRIDE in self.principal


def principal_id(raw: str) -> str:
    """A principal id from what an admin typed: ``alice`` → ``user:alice``; ``user:…`` and
    ``os:<uid>:<name>`` (to tie tokens to a local account) are kept as they are."""
    value = raw.strip()
    if ":" not in value:
        value = f"user:{value}"
    if not _PRINCIPAL.match(value):
        raise InvalidInput(
            f"principal {raw!r} is not a principal id: expected a name (letters, digits, "
            "'._@+-'), user:NAME or os:UID:NAME"
        )
    return value


def principal_name(principal: str) -> str:
    """The name part of a principal id (``os:1000:alice/as:bob`` → ``bob``)."""
    if OVERRIDE in principal:
        return principal.rsplit(OVERRIDE, 1)[1]
    return principal.rsplit(":", 1)[-1]


def same_principal(recorded: str, name: str, principal: str) -> bool:
    """Is ``recorded`` (an author's or approver's principal) the actor ``(name, principal)``?

    The same id is the same principal. Across kinds of id the principal's own name is compared
    too (``os:1000:alice`` registered it, ``user:alice`` holds the token): that can only refuse,
    never allow, so a person reaching the store through the OS and the API still counts once.
    Rows from before principals existed carry ``legacy:<name>``; for those the name is all there
    is, and it is compared with both names of the actor (the token's and its principal's)."""
    if recorded == principal:
        return True
    if recorded.startswith("legacy:"):
        return recorded[len("legacy:") :] in {name, principal_name(principal)}
    return principal_name(recorded) == principal_name(principal)


def local_actor(os_account: str, os_name: str, override: str | None, identity: str) -> Actor:
    """The actor of a local process. ``override`` is ``MODELYARD_USER``: refused unless the
    project declares ``identity: os``; naming one's own OS account is not an override."""
    if not override or override == os_name:
        return Actor(os_name, os_account)
    if identity != "os":
        raise ConfigError(
            f"MODELYARD_USER={override!r} is refused: this project records the OS account "
            f"({os_account}) as the actor, and an environment variable may not claim another "
            "identity",
            hint="unset MODELYARD_USER; act as someone else through their API token, or, "
            "for a one-person project, declare `identity: os` in modelyard.yaml",
        )
    if not re.fullmatch(_NAME, override):
        raise ConfigError(
            f"MODELYARD_USER={override!r} is not a valid name: letters, digits and '._@+-'"
        )
    return Actor(override, f"{os_account}{OVERRIDE}{override}")


@contextlib.contextmanager
def acting(principal: str) -> Iterator[None]:
    token = _acting.set(principal)
    try:
        yield
    finally:
        _acting.reset(token)


def acting_principal() -> str | None:
    return _acting.get()
