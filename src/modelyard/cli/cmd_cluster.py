"""Cluster commands: `modelyard build` (OCI build context) and `modelyard k8s` (manifests)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli.app import ProjectOpt, app
from modelyard.terminal import render

DEFAULT_PROJECT = Path(".")


def _project(project: Path) -> tuple[object, str]:
    from modelyard.core.project import PROJECT_FILE, load_project

    config = load_project(project)
    return config, (project / PROJECT_FILE).read_text(encoding="utf-8")


@app.command()
def build(
    endpoint: Annotated[str, typer.Argument(help="Endpoint the image serves.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New folder for the build context.")],
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Write an OCI build context (Dockerfile with pinned dependencies, non-root, health check).

    Example: [bold]modelyard build arrests -o build/ && docker build -t arrests build/[/]
    """
    from modelyard.core.project import ProjectConfig, validate_name
    from modelyard.packaging.buildctx import write_build_context
    from modelyard.packaging.manifests import exposure_note

    validate_name(endpoint, "endpoint name")
    config, text = _project(project)
    assert isinstance(config, ProjectConfig)
    note = exposure_note(config, endpoint)
    port = config.kubernetes.workload(endpoint).port
    ctx = write_build_context(out, endpoint, text, port=port, note=note)
    _warn(note)
    render.console.print(f"wrote {', '.join(ctx.files)} to {ctx.path}")


def _warn(note: str | None) -> None:
    if note:
        render.err_console.print(f"[bold red]warning:[/] {note}", highlight=False, soft_wrap=True)


@app.command()
def k8s(
    endpoint: Annotated[str, typer.Argument(help="Endpoint to deploy.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")
    ] = None,
    kserve: Annotated[bool, typer.Option(help="Also emit a KServe InferenceService.")] = False,
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Kubernetes manifests: ConfigMap, Deployment, Service, HPA, PodDisruptionBudget (+ KServe).

    Example: [bold]modelyard k8s arrests --kserve -o k.yaml && kubectl apply -f k.yaml[/]
    """
    import yaml

    from modelyard.core.project import ProjectConfig
    from modelyard.packaging.manifests import (
        exposure_note,
        kserve_inference_service,
        kubernetes_manifests,
    )

    config, text = _project(project)
    assert isinstance(config, ProjectConfig)
    docs = kubernetes_manifests(config, endpoint, text)
    if kserve:
        docs.append(kserve_inference_service(config, endpoint))
    _warn(exposure_note(config, endpoint))
    rendered = yaml.safe_dump_all(docs, sort_keys=False)
    if out is None:
        typer.echo(rendered, nl=False)
    else:
        out.write_text(rendered, encoding="utf-8")
        render.console.print(f"wrote {len(docs)} manifests to {out}")
