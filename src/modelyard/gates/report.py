"""Gate reports: a versioned JSON document and one self-contained HTML page per gate run.

``GateReport`` is the JSON contract (``schema_version`` bumps on any incompatible change;
:func:`report_json_schema` gives its JSON Schema). The HTML page is rendered from a Jinja2
template with inline CSS and inline SVG charts: no scripts, no CDN, it opens offline.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.gates.base import CheckResult, fmt

SCHEMA_VERSION = 1


class GateReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    kind: str = "gate"
    model: str = Field(description="the candidate, NAME@VERSION")
    model_version_id: int | None = None
    artifact_digest: str | None = None
    dataset: str | None = Field(default=None, description="evaluation dataset NAME@VERSION")
    dataset_digest: str | None = None
    rows: int = 0
    champion: str | None = Field(default=None, description="the champion, NAME@VERSION")
    champion_rule: str | None = Field(default=None, description="how the champion was chosen")
    passed: bool
    outcome: str = Field(
        default="",
        description="passed | failed | errored (a check raised and none failed: no verdict)",
    )
    status_counts: dict[str, int] = Field(default_factory=dict)
    failed_checks: list[str] = Field(default_factory=list)
    checks: list[CheckResult]
    policy: dict[str, Any] = Field(default_factory=dict)
    started_at: str
    duration_s: float
    created_by: str | None = None
    transition: dict[str, Any] | None = Field(
        default=None, description="lifecycle move made because of this run"
    )

    def summary(self) -> dict[str, Any]:
        """The small dict stored in the reports table (the rest is in the artifact)."""
        return {
            "schema_version": self.schema_version,
            "model": self.model,
            "dataset": self.dataset,
            "champion": self.champion,
            "passed": self.passed,
            "outcome": self.outcome,
            "status_counts": self.status_counts,
            "failed_checks": self.failed_checks,
            "checks": {c.name: c.status for c in self.checks},
        }

    def reason(self, limit: int = 900) -> str:
        if self.passed:
            warned = [c.name for c in self.checks if c.status == "warn"]
            extra = f" (warnings: {', '.join(warned)})" if warned else ""
            return f"passed the gates on {self.dataset}{extra}"
        parts = [f"{c.name}: {c.message}" for c in self.checks if c.failed]
        head = (
            "the gates reached no verdict (a check raised)"
            if self.outcome == "errored"
            else "failed the gates"
        )
        text = head + " — " + " | ".join(parts)
        return text if len(text) <= limit else text[: limit - 1] + "…"


def report_json_schema() -> dict[str, Any]:
    return GateReport.model_json_schema()


def to_json(report: GateReport) -> bytes:
    return report.model_dump_json(indent=2).encode()


def render_html(report: GateReport) -> str:
    from importlib.resources import files

    import jinja2

    template_text = files("modelyard.gates").joinpath("templates/report.html.j2").read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = fmt
    template = env.from_string(template_text)
    return template.render(r=report, checks=report.checks)
