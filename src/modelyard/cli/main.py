"""Entry point: the Typer app, global options and one place that turns errors into exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli import render
from modelyard.core.errors import ModelyardError

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


def main() -> None:
    """Console-script entry: run the app, mapping modelyard errors to clear messages."""
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except ModelyardError as exc:
        render.err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            render.err_console.print(f"[dim]hint:[/] {exc.hint}", highlight=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        render.err_console.print("aborted")
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: exit 2 with click's message
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            render.err_console.print(f"error: {exc}")
        sys.exit(int(getattr(exc, "exit_code", 2)))


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


def _load_commands() -> None:
    """Each ``modelyard/cli/cmd_*.py`` module registers its commands on import."""
    import importlib
    import pkgutil

    import modelyard.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"modelyard.cli.{info.name}")


_load_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
