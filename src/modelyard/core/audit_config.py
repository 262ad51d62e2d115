"""The project file's ``audit:`` section: where checkpoints of the audit chain are anchored."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_ANCHOR = ".modelyard/audit-checkpoints.jsonl"


class AuditConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    anchors: tuple[str, ...] = Field(
        default=(DEFAULT_ANCHOR,),
        description="where signed checkpoints go: a file (appended, relative to the project) "
        "or s3://bucket/prefix (one object per checkpoint); [] turns anchoring off",
    )
    checkpoint_every: int = Field(
        default=100, ge=0, le=1_000_000, description="write a checkpoint every N entries (0: never)"
    )

    @field_validator("anchors")
    @classmethod
    def _urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.strip():
                raise ValueError("an anchor must be a file path or an s3:// URL, not empty")
            if "://" in url and not url.startswith(("s3://", "file://")):
                raise ValueError(f"anchor {url!r}: expected a file path, file:// or s3:// URL")
        return value
