"""Server-wide serving settings (project file ``serving:``): who may call the inference server.

Per-endpoint routing, batching and limits live under ``endpoints:`` (``endpoint_config``); this
section is about the server as a whole.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AuthMode = Literal["token", "none"]


class ServingConfig(BaseModel):
    """Authentication on the inference server's own routes. The management API (``/api``)
    and the dashboard (``/ui``) always need a token; these settings cover the rest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth: AuthMode = Field(
        default="none",
        description="inference (`:predict`, `:explain`, `/infer`) needs `Authorization: Bearer "
        "<token>` of a role with the 'predict' permission, and model status/metadata show "
        "details only to a token with 'read' ('token'); or every route is open ('none', the "
        "local default: `serve` warns when it binds a non-loopback address like that)",
    )
    metrics_auth: AuthMode | None = Field(
        default=None,
        description="`/metrics` needs a token with the 'read' permission ('token') or is open "
        "('none'); default: as `auth`",
    )

    @property
    def inference_open(self) -> bool:
        return self.auth == "none"

    @property
    def metrics_open(self) -> bool:
        return (self.metrics_auth or self.auth) == "none"
