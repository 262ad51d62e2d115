"""The Typer app the commands register on, its command groups and the options they share."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="modelyard",
    help="The production pipeline for ML models: data → runs → gates → serving → monitoring.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Register and inspect dataset versions.", no_args_is_help=True)
runs_app = typer.Typer(help="Inspect training runs.", no_args_is_help=True)
models_app = typer.Typer(help="Inspect model versions.", no_args_is_help=True)
key_app = typer.Typer(help="Encryption keys for artifacts at rest.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(runs_app, name="runs")
app.add_typer(models_app, name="models")
app.add_typer(key_app, name="key")

ProjectOpt = Annotated[
    Path,
    typer.Option(
        "--project",
        "-p",
        help="Project folder (holding modelyard.yaml).",
        envvar="MODELYARD_PROJECT",
        file_okay=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
DEFAULT_PROJECT = Path(".")  # the current folder


def open_registry(project: Path):  # type: ignore[no-untyped-def]
    """The local store. With MODELYARD_SERVER set, a verb that has no server route is refused
    rather than silently acting on a local project (deny by default when pointed at a server)."""
    from modelyard.registry.registry import Registry

    if os.environ.get("MODELYARD_SERVER"):
        from modelyard.core.errors import ConfigError

        raise ConfigError(
            "this command works on a local project only and MODELYARD_SERVER is set",
            hint="unset MODELYARD_SERVER to use the local project; through a server: approve, "
            "reject, deploy, rollback, retire, catalog, audit, token create/revoke",
        )
    return Registry.open(project, dict(os.environ))
