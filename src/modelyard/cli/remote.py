"""CLI verbs pointed at a server: with ``MODELYARD_SERVER`` (and ``MODELYARD_TOKEN``) set, the
management verbs go through the server's API, so the same permission table decides."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from modelyard.core.errors import (
    Conflict,
    InvalidInput,
    ModelyardError,
    NotFound,
    PermissionDenied,
)

_BY_STATUS: dict[int, type[ModelyardError]] = {
    401: PermissionDenied,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    400: InvalidInput,
    413: InvalidInput,
    422: InvalidInput,
}


@dataclass(frozen=True)
class Remote:
    url: str
    token: str | None

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            r = httpx.request(
                method,
                f"{self.url}/api/v1{path}",
                json=body,
                params=params,
                headers=headers,
                timeout=60,
            )
        except httpx.HTTPError as exc:
            raise ModelyardError(f"cannot reach the server at {self.url}: {exc}") from None
        if r.status_code < 400:
            return r.json()
        try:
            doc = r.json()
        except ValueError:
            doc = {"error": r.text[:500]}
        cls = _BY_STATUS.get(r.status_code, ModelyardError)
        raise cls(f"server: {doc.get('error', r.reason_phrase)}", hint=doc.get("hint"))


def remote() -> Remote | None:
    """Read once at the CLI boundary: MODELYARD_SERVER (URL) and MODELYARD_TOKEN."""
    url = os.environ.get("MODELYARD_SERVER")
    if not url:
        return None
    return Remote(url.rstrip("/"), os.environ.get("MODELYARD_TOKEN"))
