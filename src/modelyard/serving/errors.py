"""Serving errors: the core taxonomy plus the few HTTP-only cases, mapped to one JSON shape.

Every error answer is ``{"error": message, "code": code, ...}`` (the V2 protocol's
``{"error": ...}`` is a subset), with the prediction id when one was assigned.
"""

from __future__ import annotations

from typing import Any

import orjson

from modelyard.core.errors import InvalidInput, ModelyardError, Unauthenticated


class MalformedRequest(InvalidInput):
    """The body is not parseable (bad JSON, bad binary framing)."""

    code = "malformed_request"
    http_status = 400


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"
    http_status = 413


class RequestTimeout(InvalidInput):
    """The body did not arrive whole within the read deadline."""

    code = "request_timeout"
    http_status = 408


class Throttled(ModelyardError):
    code = "throttled"
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: float, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after_s = retry_after_s


class ModelFailed(ModelyardError):
    """The model raised on valid input: a server-side failure, never the caller's fault."""

    code = "model_error"
    http_status = 500


class NotReady(ModelyardError):
    code = "not_ready"
    http_status = 503


class MethodNotAllowed(ModelyardError):
    code = "method_not_allowed"
    http_status = 405


def error_body(exc: ModelyardError, prediction_id: str | None = None) -> bytes:
    body = exc.to_dict()
    if prediction_id:
        body["id"] = prediction_id
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY, default=str)


def error_headers(exc: ModelyardError) -> list[tuple[bytes, bytes]]:
    if isinstance(exc, Throttled):
        return [(b"retry-after", str(max(1, round(exc.retry_after_s + 0.499))).encode())]
    if isinstance(exc, Unauthenticated):  # RFC 6750: say which scheme would be accepted
        return [(b"www-authenticate", b'Bearer realm="modelyard"')]
    return []
