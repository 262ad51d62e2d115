"""Project commands: create a project (init), check it (doctor), run the demo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli.app import (
    DEFAULT_PROJECT,
    JsonOpt,
    ProjectOpt,
    app,
    open_registry,
)
from modelyard.terminal import render


@app.command()
def init(
    path: Annotated[
        Path, typer.Argument(help="Folder to create the project in.")
    ] = DEFAULT_PROJECT,
    name: Annotated[str | None, typer.Option(help="Project name (default: folder name).")] = None,
    identity: Annotated[
        str | None,
        typer.Option(
            help="'os' for a one-person project: MODELYARD_USER may then name the actor "
            "(recorded as an override). Default: the OS account acts, overrides are refused."
        ),
    ] = None,
) -> None:
    """Create a project: modelyard.yaml plus a local store in .modelyard/.

    Example: [bold]modelyard init my-project[/]
    """
    from modelyard.core.errors import InvalidInput
    from modelyard.core.project import GOVERNED_PROJECT
    from modelyard.registry.registry import Registry

    if identity not in (None, "account", "os"):
        raise InvalidInput(f"--identity must be 'account' or 'os', got {identity!r}")
    reg = Registry.init(
        path, name=name, env=dict(os.environ), template=GOVERNED_PROJECT, identity=identity
    )
    render.console.print(
        f"Initialised project [bold]{reg.config.name}[/] in {reg.settings.project_dir}\n"
        f"  metadata:  {reg.settings.store_url}\n  artifacts: {reg.settings.artifact_url}"
    )
    reg.close()


@app.command()
def doctor(
    project: ProjectOpt = DEFAULT_PROJECT,
    clean: Annotated[bool, typer.Option(help="Delete leftovers of interrupted writes.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Check the store: migrations current, every artifact present and matching its digest.

    Exits 1 when a problem is found. Example: [bold]modelyard doctor[/]
    """
    from rich.progress import Progress

    from modelyard.registry import doctor as doc

    with open_registry(project) as reg:
        with Progress(console=render.err_console, transient=True, disable=json_) as bar:
            task = bar.add_task("verifying artifacts", total=None)
            report = doc.check(reg, lambda i, n: bar.update(task, completed=i, total=n))
        cleaned = doc.clean_partials(reg, report) if clean else 0
    if json_:
        render.emit_json(
            {
                "ok": report.ok,
                "schema_revision": report.schema_revision,
                "head_revision": report.head_revision,
                "artifacts_checked": report.artifacts_checked,
                "problems": report.problems,
                "partial_objects": report.partial_objects,
                "cleaned": cleaned,
                "stale_runs": report.stale_runs,
            }
        )
    else:
        render.console.print(
            f"schema revision {report.schema_revision} (newest {report.head_revision})\n"
            f"artifacts verified: {report.artifacts_checked}"
        )
        for p in report.problems:
            render.console.print(f"[red]✗[/] {p}")
        if report.partial_objects:
            render.console.print(
                f"{len(report.partial_objects)} leftover temporary file(s) from interrupted writes "
                f"(never visible as objects){'; removed' if cleaned else '; --clean removes them'}"
            )
        if report.stale_runs:
            render.console.print(f"{len(report.stale_runs)} run(s) still marked running")
        render.console.print(
            "[green]store is healthy[/]" if report.ok else "[red]store has problems[/]"
        )
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def demo(
    path: Annotated[
        Path | None,
        typer.Option("--path", help="Folder for the demo project (default: a new temp folder)."),
    ] = None,
    keep_serving: Annotated[
        bool,
        typer.Option(
            "--keep-serving", help="Leave the server (and its dashboard) up to explore; Ctrl-C."
        ),
    ] = False,
) -> None:
    """Run the end-to-end demo on real data shipped with an installed package.

    Example: [bold]modelyard demo --keep-serving[/]
    """
    from modelyard.demo.story import run_demo

    run_demo(path, render.console, keep_serving=keep_serving)
