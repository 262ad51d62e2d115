"""Lifecycle commands: deploy, rollback, deprecate, retire, catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli import render
from modelyard.cli.main import JsonOpt, ProjectOpt, app, open_registry

DEFAULT_PROJECT = Path(".")
ReasonOpt = Annotated[str, typer.Option("--reason", "-m", help="Why (recorded in the audit log).")]


@app.command()
def deploy(
    ref: Annotated[str, typer.Argument(help="MODEL@VERSION (approved).")],
    to: Annotated[str, typer.Option("--to", help="Endpoint name.")],
    role: Annotated[
        str, typer.Option(help="production, canary, shadow or fallback.")
    ] = "production",
    weight: Annotated[float | None, typer.Option(help="Traffic share for a canary (0-1).")] = None,
    reason: ReasonOpt = "deployed",
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Route an approved version on an endpoint; running servers pick it up without restart.

    Example: [bold]modelyard deploy arrests@2 --to arrests --role canary --weight 0.05[/]
    """
    from modelyard.rollout.operations import deploy as do_deploy

    with open_registry(project) as reg:
        mv = do_deploy(reg, ref, to, role, weight, reason)
        routes = reg.store.routes(to)
    if json_:
        render.emit_json(
            {
                "ref": mv.ref,
                "state": mv.state,
                "endpoint": to,
                "plan": [
                    {
                        "version": f"{r['model_name']}@{r['version']}",
                        "role": r["role"],
                        "weight": r["weight"],
                    }
                    for r in routes
                ],
            }
        )
        return
    render.console.print(f"{mv.ref} → {to} as {role}")
    _plan(to, routes)


def _plan(endpoint: str, routes: list[dict[str, object]]) -> None:
    render.table(
        f"Plan of {endpoint}",
        ["version", "role", "weight"],
        [
            (f"{r['model_name']}@{r['version']}", r["role"], f"{float(r['weight']):.0%}")  # type: ignore[arg-type]
            for r in routes
        ],
    )


@app.command()
def rollback(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    to: Annotated[
        str | None, typer.Option("--to", help="MODEL@VERSION (default: last-known-good).")
    ] = None,
    reason: ReasonOpt = "manual rollback",
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Return an endpoint to its last-known-good version (canaries removed) in one step.

    Example: [bold]modelyard rollback arrests -m "error rate doubled"[/]
    """
    from modelyard.rollout.operations import rollback as do_rollback

    with open_registry(project) as reg:
        result = do_rollback(reg, endpoint, reason, to)
    if json_:
        render.emit_json(
            {"endpoint": result.endpoint, "from": result.from_version, "to": result.to_version}
        )
        return
    render.console.print(f"{endpoint}: {result.from_version or '(none)'} → {result.to_version}")


@app.command()
def deprecate(
    ref: Annotated[str, typer.Argument(help="MODEL@VERSION.")],
    reason: ReasonOpt,
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Mark a version deprecated: it may keep serving while callers migrate, flagged as a ghost.

    Example: [bold]modelyard deprecate arrests@1 -m "replaced by arrests@2"[/]
    """
    from modelyard.rollout.operations import deprecate as do_deprecate

    with open_registry(project) as reg:
        mv = do_deprecate(reg, ref, reason)
    render.console.print(f"{mv.ref}: {render.state(mv.state)}")


@app.command()
def retire(
    ref: Annotated[str, typer.Argument(help="MODEL@VERSION.")],
    reason: ReasonOpt,
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Remove every route and archive the version: it can never be routed again.

    Example: [bold]modelyard retire arrests@1 -m "no traffic for 30 days"[/]
    """
    from modelyard.rollout.operations import retire as do_retire

    with open_registry(project) as reg:
        mv = do_retire(reg, ref, reason)
    render.console.print(f"{mv.ref}: {render.state(mv.state)}")


@app.command()
def catalog(project: ProjectOpt = DEFAULT_PROJECT, json_: JsonOpt = False) -> None:
    """Active and deprecated models with owners, SLAs, traffic and last gate result; ghosts flagged.

    Example: [bold]modelyard catalog --json[/]
    """
    from dataclasses import asdict

    from modelyard.registry.catalog import catalog as build

    with open_registry(project) as reg:
        entries = build(reg)
    if json_:
        render.emit_json([{**asdict(e), "status": e.status} for e in entries])
        return
    rows = []
    for e in entries:
        traffic = ", ".join(
            f"{v['ref']} {r['role']} {r['weight']:.0%} on {r['endpoint']}"
            for v in e.versions
            for r in v["routes"]
        )
        gates = {True: "[green]pass[/]", False: "[red]fail[/]", None: "-"}[
            e.versions[-1]["last_gate"]
        ]
        rows.append(
            (
                e.model,
                e.status,
                e.owner or "[red]none[/]",
                f"p99 ≤ {e.sla['latency_p99_ms']:g} ms",
                len(e.versions),
                traffic or "-",
                gates,
                "; ".join(e.ghosts) and f"[red]{'; '.join(e.ghosts)}[/]",
            )
        )
    render.table(
        "Catalog",
        ["model", "status", "owner", "SLA", "versions", "traffic", "last gate", "ghosts"],
        rows,
    )
