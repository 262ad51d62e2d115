"""One error taxonomy for the whole package.

Every error carries a stable ``code``, the HTTP status an adapter should map it to,
a message naming what was wrong, and (where useful) a ``hint`` naming the fix.
Adapters (CLI, HTTP) render these; services only raise them.
"""

from __future__ import annotations

from typing import Any


class ModelyardError(Exception):
    """Base class: a failure the user can understand and act on."""

    code = "error"
    http_status = 500
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message, "code": self.code}
        if self.hint:
            out["hint"] = self.hint
        if self.details:
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class InvalidInput(ModelyardError):
    """A request, argument or file does not meet its contract."""

    code = "invalid_input"
    http_status = 422
    exit_code = 2


class ConfigError(ModelyardError):
    """The project file (or settings) is wrong: names the file, key and expectation."""

    code = "invalid_config"
    http_status = 422
    exit_code = 2


class NotFound(ModelyardError):
    code = "not_found"
    http_status = 404


class Conflict(ModelyardError):
    code = "conflict"
    http_status = 409


class IllegalTransition(Conflict):
    """A lifecycle transition that the state machine refuses."""

    code = "illegal_transition"


class IntegrityError(ModelyardError):
    """Stored data does not match its digest, or the store is inconsistent."""

    code = "integrity_error"
    http_status = 500


class EncryptionError(ModelyardError):
    """A key is missing or wrong for an encrypted object."""

    code = "encryption_error"
    http_status = 500


class UnsafeArtifact(ModelyardError):
    """Refused to deserialise something that is not trusted."""

    code = "unsafe_artifact"
    http_status = 422
    exit_code = 2


class UnsupportedMediaType(ModelyardError):
    """A request body in a format the route does not take (e.g. ``text/plain`` for a form)."""

    code = "unsupported_media_type"
    http_status = 415


class PermissionDenied(ModelyardError):
    code = "permission_denied"
    http_status = 403


class Unauthenticated(PermissionDenied):
    """No valid credentials (missing, malformed, unknown, revoked or expired token)."""

    http_status = 401
