"""`modelyard gate MODEL@VERSION`: run the release gates, store the report, exit 0/1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from modelyard.cli.app import JsonOpt, ProjectOpt, app, open_registry
from modelyard.core.errors import InvalidInput, NotFound
from modelyard.core.records import ReportRecord
from modelyard.registry import queries
from modelyard.terminal import render


def _register_load_runner() -> None:
    """The load check measures through the real server; gates cannot import serving, so the
    adapter layer plugs the runner in."""
    from modelyard.cli.load_runner import run_load
    from modelyard.gates.checks.load import set_load_runner

    set_load_runner(run_load)


STATUS_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "error": "bold red",
    "warn": "yellow",
    "skipped": "dim",
}


def _num(value: float | None) -> str:
    from modelyard.gates.base import fmt

    return "—" if value is None else fmt(value)


def _table(report: Any) -> Table:
    t = Table(
        title=f"Gate: {report.model} on {report.dataset} ({report.rows:,} rows)",
        title_justify="left",
        header_style="bold",
    )
    for col, justify in (
        ("check", "left"),
        ("status", "left"),
        ("figure", "left"),
        ("candidate", "right"),
        ("champion", "right"),
        ("limit", "left"),
    ):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for check in report.checks:
        style = STATUS_STYLE.get(check.status, "white")
        status = f"[{style}]{check.status}[/]"
        if not check.figures:
            t.add_row(check.name, status, f"[dim]{check.message}[/]", "", "", "")
            continue
        for i, f in enumerate(check.figures):
            value = _num(f.value)
            if f.ok is False:
                value = f"[bold red]{value}[/]"
            name = f.name if not f.note else f"{f.name} [dim]({f.note})[/]"
            t.add_row(
                check.name if i == 0 else "",
                status if i == 0 else "",
                name,
                value,
                _num(f.champion),
                f.limit or "",
            )
        t.add_section()
    return t


@app.command()
def gate(
    ref: Annotated[str, typer.Argument(help="Model version to gate, e.g. arrests@2.")],
    project: ProjectOpt = Path("."),
    json_: JsonOpt = False,
    check: Annotated[
        list[str] | None,
        typer.Option("--check", "-c", help="Run only this configured check (repeatable)."),
    ] = None,
    no_transition: Annotated[
        bool,
        typer.Option("--no-transition", help="Store the report but leave the lifecycle state."),
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the HTML report here (e.g. for CI artifacts)."),
    ] = None,
    reconsider: Annotated[
        bool,
        typer.Option(
            "--reconsider",
            help="Move a rejected version back to proposed first (needs --reason; audited).",
        ),
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why a rejected version is reconsidered.")
    ] = None,
) -> None:
    """Run the model's release-gate policy (modelyard.yaml → models.NAME.gates).

    Stores the JSON and HTML report with the version and moves it to validated (pass) or
    rejected (fail). Exit codes: 0 passed; 1 failed; 2 bad usage or configuration; 3 a check
    raised and none failed (no verdict: the version stays where it was); 4 passed, but the
    version is rejected and stays so (re-gate with --reconsider --reason TEXT).

    Example: [bold]modelyard gate arrests@2 --html gate-report.html[/]
    """
    from modelyard.gates.runner import run_gate

    _register_load_runner()
    if reconsider and not (reason or "").strip():
        raise InvalidInput(
            "--reconsider needs --reason TEXT: why the rejected version deserves another look",
            hint="e.g. --reason 'evaluation set fixed (duplicate rows removed)'",
        )
    if reason is not None and not reconsider:
        raise InvalidInput("--reason goes with --reconsider")

    with open_registry(project) as reg:
        try:
            reg.model_version(ref)
        except NotFound as exc:
            raise InvalidInput(exc.message, hint=exc.hint) from None
        with render.err_console.status(f"gating {ref}…") as status:

            def progress(step: Any) -> None:
                if isinstance(step, str):
                    status.update(f"gating {ref}: {step}…")

            report, report_id = run_gate(
                reg,
                ref,
                only=check or None,
                transition=not no_transition,
                progress=progress,
                reconsider=reason if reconsider else None,
            )
        state = reg.model_version(ref).state
        row = next(
            r for r in queries.reports(reg, report.model_version_id or 0) if r.id == report_id
        )
        if html is not None:
            html.write_bytes(reg.artifacts.get(str(row.html_digest)))
        if json_:
            render.emit_json(
                {
                    **report.model_dump(mode="json"),
                    "report_id": report_id,
                    "json_digest": row.artifact_digest,
                    "html_digest": row.html_digest,
                }
            )
        else:
            _print(report, report_id, row, html, moved=not no_transition)
            if report.passed and state == "rejected":
                render.err_console.print(
                    f"[bold yellow]{report.model} stays rejected[/]: a pass does not undo an "
                    f"earlier rejection. To let it through: modelyard gate {report.model} "
                    "--reconsider --reason TEXT"
                )
    if report.outcome == "errored":
        raise typer.Exit(3)
    if not report.passed:
        raise typer.Exit(1)
    if state == "rejected":
        raise typer.Exit(4)


def _print(
    report: Any, report_id: int, row: ReportRecord, html: Path | None, *, moved: bool
) -> None:
    console = render.console
    if report.champion:
        console.print(f"champion: [bold]{report.champion}[/] ({report.champion_rule})")
    else:
        console.print("champion: [dim]none (comparisons not judged)[/]")
    console.print(_table(report))
    counts = ", ".join(f"{n} {s}" for s, n in report.status_counts.items())
    if report.passed:
        console.print(f"[bold green]PASSED[/] {report.model}: {counts}")
    elif report.outcome == "errored":
        console.print(
            f"[bold yellow]NO VERDICT[/] {report.model}: {counts}; raised: "
            f"{', '.join(report.failed_checks)} (state unchanged; fix and gate again)"
        )
    else:
        console.print(
            f"[bold red]FAILED[/] {report.model}: {counts}; failing: "
            f"{', '.join(report.failed_checks)}"
        )
    if report.transition:
        t = report.transition
        console.print(f"lifecycle: {render.state(t['from'])} → {render.state(t['to'])}")
    elif moved:
        console.print("[dim]lifecycle: state unchanged (only proposed/validated versions move)[/]")
    else:
        console.print("[dim]lifecycle: state unchanged (--no-transition)[/]")
    console.print(
        f"[dim]report #{report_id}: json sha256:{str(row.artifact_digest)[:16]}, "
        f"html sha256:{str(row.html_digest)[:16]}"
        + (f", written to {html}" if html else "")
        + "[/]"
    )
