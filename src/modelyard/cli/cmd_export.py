"""``modelyard export``: the project's configuration for tools that sit beside modelyard.

``modelyard export prometheus-rules`` writes the alert rules of ``monitoring.alerts`` as a
Prometheus rules file (``--format rules``, for ``rule_files:``) or a Prometheus Operator
``PrometheusRule`` resource (``--format operator``). See ``packaging.prometheus_rules``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli.app import ProjectOpt, app, open_registry
from modelyard.core.errors import InvalidInput
from modelyard.registry import queries
from modelyard.terminal import render

export_app = typer.Typer(
    help="Export configuration for other tools (Prometheus alerting rules).",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")


@export_app.command("prometheus-rules")
def prometheus_rules(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")
    ] = None,
    format_: Annotated[
        str,
        typer.Option("--format", help="rules (a rules file) or operator (a PrometheusRule)."),
    ] = "rules",
    min_range: Annotated[
        str,
        typer.Option("--min-range", help="Shortest rate range (>= 4 scrape intervals): 60s, 2m."),
    ] = "60s",
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="Namespace of the PrometheusRule.")
    ] = None,
    project: ProjectOpt = Path("."),
) -> None:
    """Turn the project's alert rules into Prometheus alerting rules.

    Example: [bold]modelyard export prometheus-rules -o modelyard-rules.yml[/]
    """
    import yaml

    from modelyard.cli.cmd_backfill import parse_duration
    from modelyard.packaging.prometheus_rules import (
        FORMATS,
        alert_rules,
        prometheus_rule_resource,
    )

    if format_ not in FORMATS:
        raise InvalidInput(
            f"--format {format_!r} is not known", hint=f"use one of: {', '.join(FORMATS)}"
        )
    range_s = parse_duration(min_range)
    with open_registry(project) as reg:
        models = {r.endpoint: r.model_name for r in queries.routes(reg) if r.role == "production"}
        doc = alert_rules(reg.config, models, min_range_s=range_s)
        if format_ == "operator":
            doc = prometheus_rule_resource(doc, f"{reg.config.name}-alerts", namespace)
    text = yaml.safe_dump(doc, sort_keys=False, width=1000)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    groups = doc["spec"]["groups"] if format_ == "operator" else doc["groups"]
    n = sum(len(g["rules"]) for g in groups)
    render.console.print(f"wrote {n} alerting rules to {out}")
