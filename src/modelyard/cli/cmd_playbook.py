"""Playbook commands: list, history, run (synthetic alert) and rehearse (on staging, for real)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli.app import JsonOpt, ProjectOpt, app, open_registry
from modelyard.core.monitor_config import PlaybookAction
from modelyard.core.operations_records import ActionRecord
from modelyard.terminal import render

DEFAULT_PROJECT = Path(".")
playbook_app = typer.Typer(
    help="Remediation playbooks: alerts mapped to rollback, shift, throttle, retrain, notify.",
    no_args_is_help=True,
)
app.add_typer(playbook_app, name="playbook")

EndpointOpt = Annotated[str, typer.Option("--endpoint", "-e", help="Endpoint name.")]
PlaybookArg = Annotated[str, typer.Argument(help="Playbook name (modelyard.yaml playbooks:).")]
STATUS_STYLE = {"done": "green", "failed": "red", "dry-run": "cyan", "skipped": "yellow"}

# ``playbook list --json`` shows the last run as its table row, columns in table order
ROW_COLUMNS = (
    "id",
    "alert_id",
    "endpoint",
    "playbook",
    "action",
    "status",
    "dry_run",
    "details",
    "created_at",
)


def _when(cfg: Any) -> str:
    parts = []
    if cfg.when.rules:
        parts.append("rules " + ", ".join(cfg.when.rules))
    if cfg.when.min_tier:
        parts.append(f"tier ≥ {cfg.when.min_tier}")
    if cfg.when.new_data:
        parts.append("new training data")
    if cfg.when.every_s:
        parts.append(f"every {cfg.when.every_s:g}s")
    return " or ".join(parts)


def _shown(cfg: Any) -> dict[str, Any]:
    """A playbook as shown: a notify sink's URL redacted (its path is the secret)."""
    from modelyard.core.webhooks import redact_url

    out: dict[str, Any] = cfg.model_dump(mode="json", exclude_none=True)
    for action in out.get("actions", []):
        if action.get("sink"):
            action["sink"] = redact_url(action["sink"])
    return out


def _action(a: PlaybookAction) -> str:
    args = a.model_dump(exclude_none=True, exclude={"do"})
    if args.get("sink"):
        from modelyard.core.webhooks import redact_url

        args["sink"] = redact_url(args["sink"])
    return a.do + (f"({', '.join(f'{k}={v}' for k, v in args.items())})" if args else "")


def _status(s: str) -> str:
    return f"[{STATUS_STYLE.get(s, 'white')}]{s}[/]"


def _print_records(records: list[Any]) -> None:
    render.table(
        "Actions",
        ["#", "action", "status", "outcome"],
        [(r.details.get("step", ""), r.action, _status(r.status), r.summary) for r in records],
    )


@playbook_app.command("list")
def list_(project: ProjectOpt = DEFAULT_PROJECT, json_: JsonOpt = False) -> None:
    """The project's playbooks: triggers, endpoints, actions and the last run.

    Example: [bold]modelyard playbook list --json[/]
    """
    from modelyard.monitoring.action_log import last_runs

    with open_registry(project) as reg:
        books = reg.config.playbooks
        last = last_runs(reg, books)
    if json_:
        render.emit_json(
            [
                {
                    "name": name,
                    **_shown(cfg),
                    "last_run": _as_row(last[name]),
                }
                for name, cfg in books.items()
            ]
        )
        return
    rows = []
    for name, cfg in books.items():
        row = last[name]
        rows.append(
            (
                name + (" [cyan](dry run)[/]" if cfg.dry_run else ""),
                _when(cfg),
                ", ".join(cfg.endpoints) or "all",
                " → ".join(_action(a) for a in cfg.actions),
                f"{cfg.cooldown_s:g}s",
                f"{render.ago(row.created_at)} {row.endpoint} {_status(row.status)}"
                if row
                else "never",
            )
        )
    render.table(
        "Playbooks", ["name", "when", "endpoints", "actions", "cooldown", "last run"], rows
    )


def _as_row(rec: ActionRecord | None) -> dict[str, Any] | None:
    """The action as its ``playbook_actions`` row reads (``ROW_COLUMNS``)."""
    if rec is None:
        return None
    return {c: getattr(rec, c) for c in ROW_COLUMNS}


@playbook_app.command()
def history(
    endpoint: Annotated[str | None, typer.Option("--endpoint", "-e", help="Only this one.")] = None,
    playbook: Annotated[str | None, typer.Option("--playbook", help="Only this one.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest N actions.")] = 50,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Recorded playbook actions, newest first, with the alert behind each.

    Example: [bold]modelyard playbook history --endpoint arrests[/]
    """
    from modelyard.monitoring.action_log import actions

    with open_registry(project) as reg:
        records = actions(reg, endpoint, playbook, limit)
    if json_:
        render.emit_json([r.to_dict() for r in records])
        return
    render.table(
        "Playbook actions",
        ["at", "playbook", "endpoint", "action", "status", "alert", "outcome"],
        [
            (
                render.ago(r.created_at),
                r.playbook,
                r.endpoint,
                r.action,
                _status(r.status),
                f"#{r.alert_id}" if r.alert_id is not None else "trigger",
                r.summary,
            )
            for r in records
        ],
    )


def _run(name: str, endpoint: str, project: Path, json_: bool, rehearsal: bool, **kw: Any) -> None:
    from modelyard.orchestration.playbooks import run_synthetic

    with open_registry(project) as reg:
        alert_id, records = run_synthetic(
            reg, name, endpoint, actor=reg.settings.user, rehearsal=rehearsal, **kw
        )
    failed = any(r.status == "failed" for r in records)
    if json_:
        render.emit_json({"alert_id": alert_id, "actions": [r.to_dict() for r in records]})
    else:
        kind = "rehearsal" if rehearsal else "run"
        render.console.print(
            f"playbook [bold]{name}[/] {kind} on {endpoint} (synthetic alert #{alert_id}, resolved)"
        )
        _print_records(records)
    if failed:
        raise typer.Exit(1)


@playbook_app.command()
def run(
    name: PlaybookArg,
    endpoint: EndpointOpt,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Record what would be done; change nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Run on an endpoint the playbook does not list.")
    ] = False,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Fire a synthetic alert for a playbook at an endpoint and run it (no cooldown).
    Exit code 1 when an action failed.

    Example: [bold]modelyard playbook run rollback-on-drift --endpoint arrests --dry-run[/]
    """
    _run(name, endpoint, project, json_, False, dry_run=True if dry_run else None, force=force)


@playbook_app.command()
def rehearse(
    name: PlaybookArg,
    endpoint: EndpointOpt,
    force: Annotated[
        bool, typer.Option("--force", help="Rehearse on an endpoint the playbook does not name.")
    ] = False,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Rehearse a playbook for real on a staging endpoint the playbook names: a synthetic
    alert fires, every action runs (even if the playbook is dry_run), the alert is resolved.
    Exit code 1 when an action failed.

    Example: [bold]modelyard playbook rehearse rollback-on-drift --endpoint arrests-staging[/]
    """
    _run(name, endpoint, project, json_, True, force=force)
