"""``http:`` in the project file: how large a request body may be and how long reading it may
take, on every route of ``modelyard serve`` and ``modelyard ui``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MIB = 1024 * 1024


class HttpLimits(BaseModel):
    """Request bodies: bounded before they are read (413) and read within a deadline (408)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: int = Field(
        default=16 * MIB,
        ge=1024,
        description="inference routes: a larger body → 413 before it is read (each "
        "endpoint's own max_body_bytes applies within it)",
    )
    max_form_bytes: int = Field(
        default=1 * MIB,
        ge=1024,
        description="management API and dashboard: a larger body → 413 before it is read",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="a body not received whole this many seconds after its headers → 408",
    )
