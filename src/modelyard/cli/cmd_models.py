"""Model-version commands: list versions and show one with its lifecycle and reports."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli.app import (
    DEFAULT_PROJECT,
    JsonOpt,
    ProjectOpt,
    models_app,
    open_registry,
)
from modelyard.registry import queries
from modelyard.terminal import render


@models_app.command("list")
def models_list(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """List model versions with lifecycle state and owner (the catalog of versions).

    Example: [bold]modelyard models list arrests[/]
    """
    with open_registry(project) as reg:
        versions = reg.model_versions(name)
        routes = queries.routes(reg)
    served: dict[int, list[str]] = {}
    for r in routes:
        served.setdefault(r.model_version_id, []).append(f"{r.endpoint}:{r.role}")
    items = [
        {
            "ref": v.ref,
            "state": v.state,
            "flavor": v.flavor,
            "owner": v.card.get("owner"),
            "run_id": v.run_id,
            "digest": v.artifact_digest,
            "size_bytes": v.size_bytes,
            "routes": served.get(v.id, []),
            "created_at": v.created_at,
        }
        for v in versions
    ]
    if json_:
        render.emit_json(items)
        return
    render.table(
        "Model versions",
        ["version", "state", "flavor", "owner", "routes", "size", "created"],
        [
            (
                i["ref"],
                render.state(i["state"]),
                i["flavor"],
                i["owner"] or "[red]none[/]",
                ", ".join(i["routes"]),
                f"{i['size_bytes'] / 1024:.1f} KiB",
                render.ago(i["created_at"]),
            )
            for i in items
        ],
    )


@models_app.command("show")
def models_show(
    ref: Annotated[str, typer.Argument(help="MODEL or MODEL@VERSION.")],
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Show a model version: card, signature and lifecycle history.

    Example: [bold]modelyard models show arrests@2[/]
    """
    with open_registry(project) as reg:
        mv = reg.model_version(ref)
        history = queries.transitions(reg, mv.id)
    data = {
        "ref": mv.ref,
        "state": mv.state,
        "flavor": mv.flavor,
        "trusted": mv.trusted,
        "artifact_digest": mv.artifact_digest,
        "size_bytes": mv.size_bytes,
        "run_id": mv.run_id,
        "card": mv.card,
        "signature": mv.signature,
        "history": [
            {k: getattr(h, k) for k in ("from_state", "to_state", "actor", "reason", "at")}
            for h in history
        ],
    }
    if json_:
        render.emit_json(data)
        return
    card = mv.card
    sla = card.get("sla") or {}
    render.console.print(
        f"[bold]{mv.ref}[/]  {render.state(mv.state)}  {mv.flavor}"
        f"{' [red](trusted: may run code when loaded)[/]' if mv.trusted else ''}\n"
        f"owner: {card.get('owner') or '[red]none[/]'}  objective: {card.get('objective') or '-'}  "
        f"KPI: {card.get('kpi') or '-'}\nSLA: p99 ≤ {sla.get('latency_p99_ms')} ms, availability "
        f"{sla.get('availability')}, escalation {sla.get('escalation') or '-'}\n"
        f"artifact sha256:{mv.artifact_digest}  run {mv.run_id or '-'}"
    )
    render.table(
        "Signature inputs",
        ["name", "type", "nullable", "categories"],
        [
            (i["name"], i["type"], i["nullable"], len(i.get("categories", [])) or "")
            for i in mv.signature.get("inputs", [])
        ],
    )
    render.table(
        "Lifecycle",
        ["from", "to", "actor", "reason", "at"],
        [(h.from_state or "-", h.to_state, h.actor, h.reason, render.ago(h.at)) for h in history],
    )
