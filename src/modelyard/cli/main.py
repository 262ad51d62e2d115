"""Entry point: the app with every command group registered, and one place that turns errors
into exit codes."""

from __future__ import annotations

import sys

import typer

# importing a cmd_* module registers its commands on the app (a test checks none is missed)
from modelyard.cli import (  # noqa: F401
    cmd_alerts,
    cmd_backfill,
    cmd_cluster,
    cmd_data,
    cmd_export,
    cmd_feedback,
    cmd_gate,
    cmd_governance,
    cmd_key,
    cmd_lifecycle,
    cmd_lineage,
    cmd_models,
    cmd_monitor,
    cmd_playbook,
    cmd_project,
    cmd_runs,
    cmd_serve,
    cmd_ui,
)
from modelyard.cli.app import app
from modelyard.core.errors import ModelyardError
from modelyard.terminal import render

__all__ = ["app", "main"]


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


if __name__ == "__main__":  # pragma: no cover
    main()
