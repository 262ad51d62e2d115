"""Training-run commands: list runs and show one with its inputs, params and metrics."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli.app import (
    DEFAULT_PROJECT,
    JsonOpt,
    ProjectOpt,
    open_registry,
    runs_app,
)
from modelyard.registry import queries
from modelyard.terminal import render


@runs_app.command("list")
def runs_list(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only runs of this model.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs.")] = 50,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """List training runs, newest first.

    Example: [bold]modelyard runs list --model arrests[/]
    """
    with open_registry(project) as reg:
        runs = queries.runs(reg, model, limit)
    if json_:
        render.emit_json(
            [
                {
                    k: getattr(r, k)
                    for k in (
                        "id",
                        "model_name",
                        "status",
                        "params",
                        "seed",
                        "created_by",
                        "started_at",
                        "ended_at",
                    )
                }
                for r in runs
            ]
        )
        return
    render.table(
        "Runs",
        ["run", "model", "status", "params", "by", "started"],
        [
            (
                r.id[:12],
                r.model_name,
                r.status,
                len(r.params),
                r.created_by,
                render.ago(r.started_at),
            )
            for r in runs
        ],
    )


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Show one run: code, environment, params, metrics, inputs, outputs.

    Example: [bold]modelyard runs show 3f2a9c[/]
    """
    with open_registry(project) as reg:
        run = queries.run(reg, run_id)
        metrics = queries.run_metrics(reg, run.id)
        inputs = queries.run_inputs(reg, run.id)
        outputs = queries.run_outputs(reg, run.id)
    data = {
        **{
            k: getattr(run, k)
            for k in (
                "id",
                "model_name",
                "status",
                "params",
                "seed",
                "environment",
                "created_by",
                "started_at",
                "ended_at",
                "error",
            )
        },
        "metrics": [{k: getattr(m, k) for k in ("key", "value", "step")} for m in metrics],
        "inputs": [
            {"ref": i.dataset.ref, "role": i.role, "digest": i.dataset.digest} for i in inputs
        ],
        "model_versions": [v.ref for v in outputs],
    }
    if json_:
        render.emit_json(data)
        return
    git = run.environment.get("git") or {}
    render.console.print(
        f"[bold]run {run.id}[/]  model {run.model_name}  status {run.status}  by "
        f"{run.created_by}\ncode: commit {git.get('commit') or '(not a git repo)'}"
        f"{'  dirty diff ' + str(git.get('diff_sha256'))[:12] if git.get('dirty') else ''}\n"
        f"lock: {run.environment.get('lock_sha256') or '(none found)'}  python "
        f"{run.environment.get('python')}  seed {run.seed}"
    )
    render.table("Params", ["param", "value"], sorted(run.params.items()))
    render.table(
        "Metrics",
        ["metric", "value", "step"],
        [(m["key"], f"{m['value']:.6g}", m["step"]) for m in data["metrics"]],
    )
    render.table(
        "Inputs",
        ["dataset", "role", "digest"],
        [(i["ref"], i["role"], i["digest"][:16]) for i in data["inputs"]],
    )
    if run.error:
        render.console.print(f"[red]error:[/]\n{run.error}")
