"""``modelyard alerts``: list, acknowledge and resolve alerts; inspect deliveries and dead letters.

Imports of the monitoring code happen inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli.app import JsonOpt, ProjectOpt, app, open_registry
from modelyard.terminal import render

alerts_app = typer.Typer(
    help="Tiered alerts from the live monitor: list, acknowledge, resolve, deliveries.",
    no_args_is_help=True,
)
app.add_typer(alerts_app, name="alerts")

ReasonOpt = Annotated[str, typer.Option("--reason", "-m", help="Why (recorded in the audit log).")]
IdArg = Annotated[int, typer.Argument(help="Alert id (see `modelyard alerts list`).")]


@alerts_app.command("list")
def list_(
    state: Annotated[
        str,
        typer.Option(
            "--state",
            "-s",
            help="firing, acknowledged, resolved, open (firing or acknowledged) or all.",
        ),
    ] = "open",
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", "-e", help="Only this endpoint.")
    ] = None,
    project: ProjectOpt = Path("."),
    json_: JsonOpt = False,
) -> None:
    """Alerts, newest first (default: the open ones).

    Example: [bold]modelyard alerts list --state all --endpoint arrests[/]
    """
    from modelyard.monitoring.alerts import AlertBook, parse_state

    parse_state(state)  # bad input fails before the store is opened
    with open_registry(project) as reg:
        rows = AlertBook.of(reg).find(state, endpoint)
    if json_:
        render.emit_json([dataclasses.asdict(r) for r in rows])
        return
    render.table(
        f"alerts ({state})",
        ["id", "endpoint", "rule", "tier", "state", "value", "started", "message"],
        [
            [r.id, r.endpoint, r.rule, _tier(r.tier), r.state, _num(r.value),
             render.ago(r.started_at), r.message]
            for r in rows
        ],
    )  # fmt: skip


@alerts_app.command("ack")
def ack(
    alert_id: IdArg,
    reason: ReasonOpt,
    project: ProjectOpt = Path("."),
    json_: JsonOpt = False,
) -> None:
    """Acknowledge a firing alert: someone owns it; it stays open until the signal recovers.

    Example: [bold]modelyard alerts ack 12 --reason "looking into the upstream feed"[/]
    """
    _act(alert_id, reason, project, json_, "acknowledge")


@alerts_app.command("resolve")
def resolve(
    alert_id: IdArg,
    reason: ReasonOpt,
    project: ProjectOpt = Path("."),
    json_: JsonOpt = False,
) -> None:
    """Resolve an open alert by hand (its rule counts breaches afresh from the next window).

    Example: [bold]modelyard alerts resolve 12 --reason "feed fixed, backfill done"[/]
    """
    _act(alert_id, reason, project, json_, "resolve")


def _act(alert_id: int, reason: str, project: Path, json_: bool, action: str) -> None:
    from modelyard.core.errors import InvalidInput
    from modelyard.monitoring.alerts import AlertBook
    from modelyard.monitoring.sinks import Dispatcher

    if not reason.strip():
        raise InvalidInput("--reason must not be empty", hint="say why; it is audited")
    with open_registry(project) as reg:
        book = AlertBook.of(reg)
        if action == "acknowledge":
            event = book.acknowledge(alert_id, reg.settings.user, reason)
        else:
            event = book.resolve(alert_id, reg.settings.user, reason)
        Dispatcher.of(reg).deliver([event])
        row = book.get(alert_id)
    if json_:
        render.emit_json(dataclasses.asdict(row))
        return
    render.console.print(f"alert #{alert_id} ({row.rule} on {row.endpoint}): {row.state}")


@alerts_app.command("deliveries")
def deliveries(
    dead: Annotated[
        bool, typer.Option("--dead", help="Only dead letters (gave up after the last retry).")
    ] = False,
    alert: Annotated[int | None, typer.Option("--alert", help="Only this alert's.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")] = 100,
    project: ProjectOpt = Path("."),
    json_: JsonOpt = False,
) -> None:
    """Every attempt to hand an alert event to a sink, newest first.

    Example: [bold]modelyard alerts deliveries --dead[/]
    """
    from modelyard.monitoring.alerts import AlertBook

    with open_registry(project) as reg:
        rows = AlertBook.of(reg).deliveries(dead, alert, limit)
    if json_:
        render.emit_json([dataclasses.asdict(r) for r in rows])
        return
    render.table(
        "dead letters" if dead else "deliveries",
        ["id", "alert", "event", "sink", "status", "attempt", "at", "error"],
        [
            [r.id, r.alert_id, r.event, r.sink, r.status, r.attempts,
             render.ago(r.created_at), r.error or ""]
            for r in rows
        ],
    )  # fmt: skip


def _tier(tier: str) -> str:
    style = {"warning": "yellow", "critical": "red", "emergency": "bold red"}.get(tier, "white")
    return f"[{style}]{tier}[/]"


def _num(v: Any) -> str:
    return "-" if v is None else f"{float(v):.4g}"
