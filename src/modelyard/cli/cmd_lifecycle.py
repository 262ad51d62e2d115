"""Lifecycle commands: deploy (direct, blue-green, canary, shadow), rollback, deprecate, retire
(and retirement proposals), catalog (with costs), shadow report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli.app import JsonOpt, ProjectOpt, app, open_registry
from modelyard.core.records import Route
from modelyard.registry import queries
from modelyard.terminal import render

DEFAULT_PROJECT = Path(".")
ReasonOpt = Annotated[str, typer.Option("--reason", "-m", help="Why (recorded in the audit log).")]


@app.command()
def deploy(
    ref: Annotated[str, typer.Argument(help="MODEL@VERSION (approved).")],
    to: Annotated[str, typer.Option("--to", help="Endpoint name.")],
    role: Annotated[
        str, typer.Option(help="production, canary, shadow or fallback.")
    ] = "production",
    weight: Annotated[float | None, typer.Option(help="Traffic share for a canary (0-1).")] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="direct, blue-green (old champion kept warm as standby), canary (steps with "
            "automated analysis) or shadow (mirrored traffic). Default: the model's "
            "rollout.strategy in modelyard.yaml, else direct."
        ),
    ] = None,
    sample: Annotated[
        float | None, typer.Option(help="Shadow: share of requests mirrored (0-1].")
    ] = None,
    steps: Annotated[
        str | None, typer.Option(help="Canary steps in percent, e.g. 5,25,50,100.")
    ] = None,
    interval: Annotated[float | None, typer.Option(help="Seconds per canary step.")] = None,
    reason: ReasonOpt = "deployed",
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Route an approved version on an endpoint; running servers pick it up without restart.

    Example: [bold]modelyard deploy arrests@2 --to arrests --strategy blue-green[/]
    """
    from modelyard.cli.remote import remote
    from modelyard.core.errors import InvalidInput
    from modelyard.orchestration import operations as ops

    server = remote()
    if server is not None:
        if strategy not in (None, "direct"):
            raise InvalidInput("through a server only --strategy direct is available yet")
        body: dict[str, object] = {"version": ref, "role": role, "reason": reason}
        if weight is not None:
            body["weight"] = weight
        doc = server.call("POST", f"/endpoints/{to}/deploy", body)
        if json_:
            render.emit_json(doc)
        else:
            render.console.print(f"{doc['ref']} → {to} as {role} ({doc['state']})")
        return

    standby: str | None = None
    with open_registry(project) as reg:
        strategy = ops.resolve_strategy(reg, ref, strategy)
        if strategy == "canary":
            from modelyard.orchestration.canary import start

            mv = reg.model_version(ref)
            ops.ensure_cleared(reg, mv)
            policy = reg.config.model(mv.model_name).rollout
            changes: dict[str, object] = {}
            if steps:
                try:
                    changes["steps"] = tuple(float(x) / 100 for x in steps.split(","))
                except ValueError:
                    raise InvalidInput(
                        f"--steps {steps!r}: expected percentages like 5,25,100"
                    ) from None
            if interval is not None:
                changes["interval_s"] = interval
            if changes:
                from pydantic import ValidationError

                try:
                    policy = type(policy).model_validate({**policy.model_dump(), **changes})
                except ValidationError as exc:
                    raise InvalidInput(
                        f"invalid canary strategy: {exc.errors()[0]['msg']}"
                    ) from None
            rid = start(reg, ref, to, policy, reason=reason)
            render.console.print(
                f"rollout #{rid}: {mv.ref} canary on {to} at {policy.steps[0]:.0%}; "
                "`modelyard rollout run` analyses and advances it"
            )
            mv = reg.model_version(ref)
            role = f"canary at {policy.steps[0]:.0%} of traffic"
        elif strategy == "blue-green":
            result = ops.blue_green(reg, ref, to, reason)
            mv, role, standby = reg.model_version(result.live), "production", result.standby
            if not json_:
                render.console.print(
                    f"blue-green: {result.live} is live on {to}; "
                    + (
                        f"{standby} stays warm as standby (`modelyard rollback {to}`)"
                        if standby
                        else "no previous champion to keep as standby"
                    )
                )
        elif strategy == "shadow":
            mv, role = ops.shadow(reg, ref, to, sample, reason), "shadow"
        else:
            mv = ops.deploy(reg, ref, to, role, weight, reason)
        routes = queries.routes(reg, to)
    if json_:
        render.emit_json(
            {
                "ref": mv.ref,
                "state": mv.state,
                "endpoint": to,
                "strategy": strategy,
                **({"standby": standby} if strategy == "blue-green" else {}),
                "plan": [
                    {
                        "version": f"{r.model_name}@{r.version}",
                        "role": r.role,
                        "weight": r.weight,
                    }
                    for r in routes
                ],
            }
        )
        return
    render.console.print(f"{mv.ref} → {to} as {role}")
    _plan(to, routes)


def _plan(endpoint: str, routes: list[Route]) -> None:
    render.table(
        f"Plan of {endpoint}",
        ["version", "role", "weight"],
        [(r.ref, r.role, f"{r.weight:.0%}") for r in routes],
    )


@app.command()
def rollback(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    to: Annotated[
        str | None, typer.Option("--to", help="MODEL@VERSION (default: last-known-good).")
    ] = None,
    reason: ReasonOpt = "manual rollback",
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Return an endpoint to its last-known-good version (canaries removed) in one step.

    Example: [bold]modelyard rollback arrests -m "error rate doubled"[/]
    """
    from modelyard.cli.remote import remote
    from modelyard.orchestration.operations import rollback as do_rollback

    server = remote()
    if server is not None:
        body = {"reason": reason, **({"to": to} if to else {})}
        doc = server.call("POST", f"/endpoints/{endpoint}/rollback", body)
        frm, dest = doc["from_version"], doc["to_version"]
    else:
        with open_registry(project) as reg:
            result = do_rollback(reg, endpoint, reason, to)
        frm, dest = result.from_version, result.to_version
    if json_:
        render.emit_json({"endpoint": endpoint, "from": frm, "to": dest})
        return
    render.console.print(f"{endpoint}: {frm or '(none)'} → {dest}")


@app.command()
def deprecate(
    ref: Annotated[str, typer.Argument(help="MODEL@VERSION.")],
    reason: ReasonOpt,
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Mark a version deprecated: it may keep serving while callers migrate, flagged as a ghost.

    Example: [bold]modelyard deprecate arrests@1 -m "replaced by arrests@2"[/]
    """
    from modelyard.orchestration.operations import deprecate as do_deprecate

    with open_registry(project) as reg:
        mv = do_deprecate(reg, ref, reason)
    render.console.print(f"{mv.ref}: {render.state(mv.state)}")


@app.command()
def retire(
    ref: Annotated[str | None, typer.Argument(help="MODEL@VERSION.")] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", "-m", help="Why (recorded in the audit log).")
    ] = None,
    proposals: Annotated[
        bool,
        typer.Option(
            "--proposals",
            help="List versions proposed for retirement (idle, sustained drift, KPI under "
            "target) and record new proposals in the audit log; retires nothing.",
        ),
    ] = False,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Remove every route and archive the version: it can never be routed again.

    Example: [bold]modelyard retire arrests@1 -m "no traffic for 30 days"[/]
    or [bold]modelyard retire --proposals[/]
    """
    from modelyard.cli.remote import remote
    from modelyard.core.errors import InvalidInput
    from modelyard.orchestration.operations import retire as do_retire

    if proposals:
        _proposals(project, json_)
        return
    if ref is None or not reason:
        raise InvalidInput(
            "retire needs MODEL@VERSION and --reason/-m (or --proposals to list proposals)"
        )

    server = remote()
    if server is not None:
        doc = server.call("POST", f"/models/{ref}/retire", {"reason": reason})
        render.console.print(f"{doc['ref']}: {render.state(doc['state'])}")
        return
    with open_registry(project) as reg:
        mv = do_retire(reg, ref, reason)
    render.console.print(f"{mv.ref}: {render.state(mv.state)}")


def _proposals(project: Path, json_: bool) -> None:
    from modelyard.orchestration.retirement import propose_retirements

    with open_registry(project) as reg:
        found = propose_retirements(reg)
    if json_:
        render.emit_json([p.to_dict() for p in found])
        return
    if not found:
        render.console.print("no version is proposed for retirement")
        return
    render.table(
        "Retirement proposals (nothing retired; `modelyard retire REF -m ...` to act)",
        ["version", "trigger", "why"],
        [(p.version, p.trigger, p.reason) for p in found],
    )


def _cost(cost: dict[str, object]) -> str:
    parts = []
    train = cost.get("training_cpu_s")
    if isinstance(train, int | float):
        parts.append(f"train {train:.1f} cpu-s")
    stored = cost.get("stored_bytes")
    if isinstance(stored, int | float):
        parts.append(f"{stored / 1e6:.2f} MB stored")
    per_1k = cost.get("inference_cpu_s_per_1k")
    if isinstance(per_1k, int | float):
        parts.append(f"{per_1k:.3f} cpu-s/1k pred")
    return ", ".join(parts) or "-"


def _trusted(versions: list[dict[str, Any]]) -> str:
    """Versions registered with trust=True, by whom and when (they may run code when loaded)."""
    marks = [
        f"{v['ref']} by {t['by']} at {str(t['at'])[:19]}"
        for v in versions
        if (t := v.get("trusted"))
    ]
    return f"[red]{'; '.join(marks)}[/]" if marks else "-"


@app.command()
def catalog(project: ProjectOpt = DEFAULT_PROJECT, json_: JsonOpt = False) -> None:
    """Active and deprecated models with owners, SLAs, traffic, last gate result and cost (training
    CPU, stored bytes, inference CPU per 1,000 predictions); ghosts and retirement proposals
    flagged.

    Example: [bold]modelyard catalog --json[/]
    """
    from dataclasses import asdict

    from modelyard.cli.remote import remote
    from modelyard.registry.catalog import CatalogEntry
    from modelyard.registry.catalog import catalog as build

    server = remote()
    if server is not None:
        docs = server.call("GET", "/catalog")
        if json_:
            render.emit_json(docs)
            return
        entries = [CatalogEntry(**{k: v for k, v in d.items() if k != "status"}) for d in docs]
    else:
        with open_registry(project) as reg:
            entries = build(reg)
    if json_:
        render.emit_json([{**asdict(e), "status": e.status} for e in entries])
        return
    rows = []
    for e in entries:
        traffic = ", ".join(
            f"{v['ref']} {r['role']} {r['weight']:.0%} on {r['endpoint']}"
            for v in e.versions
            for r in v["routes"]
        )
        gates = {True: "[green]pass[/]", False: "[red]fail[/]", None: "-"}[
            e.versions[-1]["last_gate"]
        ]
        rows.append(
            (
                e.model,
                e.status,
                e.owner or "[red]none[/]",
                f"p99 ≤ {e.sla['latency_p99_ms']:g} ms",
                len(e.versions),
                traffic or "-",
                gates,
                _cost(e.cost),
                _trusted(e.versions),
                "; ".join(e.ghosts) and f"[red]{'; '.join(e.ghosts)}[/]",
                "; ".join(f"{p['version']}: {p['reason']}" for p in e.proposals) or "-",
            )
        )
    render.table(
        "Catalog",
        [
            "model",
            "status",
            "owner",
            "SLA",
            "versions",
            "traffic",
            "last gate",
            "cost",
            "trusted (may run code)",
            "ghosts",
            "retirement proposed",
        ],
        rows,
    )


rollout_app = typer.Typer(
    help="Progressive delivery: run the controller, see rollouts.", no_args_is_help=True
)
app.add_typer(rollout_app, name="rollout")


@rollout_app.command("run")
def rollout_run(
    metrics_url: Annotated[
        list[str], typer.Option("--metrics-url", help="Server /metrics URL (repeat per replica).")
    ],
    interval: Annotated[float, typer.Option(help="Seconds between passes.", min=0.1)] = 2.0,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Run the rollout controller: analyse canaries on live traffic, promote or roll back.

    One controller acts at a time (a lease in the store); state survives restarts. When the
    servers' /metrics need a token (serving.metrics_auth), MODELYARD_TOKEN is sent.
    Example: [bold]modelyard rollout run --metrics-url http://127.0.0.1:8080/metrics[/]
    """
    import os
    import time

    from modelyard.orchestration.canary import Controller
    from modelyard.orchestration.signals import PrometheusScrape

    with open_registry(project) as reg:
        scrape = PrometheusScrape(metrics_url, token=os.environ.get("MODELYARD_TOKEN"))
        ctl = Controller(reg, scrape)
        until = None if duration is None else time.monotonic() + duration
        while True:
            for done in ctl.tick():
                outcome = done.get("outcome", done["decision"])
                reasons = "; ".join(done["reasons"]) or "healthy"
                render.console.print(f"rollout #{done['rollout']}: {outcome} ({reasons})")
            if once or (until is not None and time.monotonic() >= until):
                return
            time.sleep(interval)


@rollout_app.command("status")
def rollout_status_cmd(
    endpoint: Annotated[str | None, typer.Argument(help="Only this endpoint.")] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Rollouts with their step, weight and every analysis that decided.

    Example: [bold]modelyard rollout status arrests --json[/]
    """
    from modelyard.orchestration.canary import rollout_status

    with open_registry(project) as reg:
        items = rollout_status(reg, endpoint)
    if json_:
        render.emit_json(items)
        return
    render.table(
        "Rollouts",
        ["#", "endpoint", "candidate", "status", "step", "weight", "failures"],
        [
            (
                i["id"],
                i["endpoint"],
                i["candidate"],
                i["status"],
                f"{i['step']}/{i['steps']}",
                f"{i['weight']:.0%}",
                i["failures"],
            )
            for i in items
        ],
    )


shadow_app = typer.Typer(
    help="Shadow deployments: compare a shadow with the champion.", no_args_is_help=True
)
app.add_typer(shadow_app, name="shadow")


@shadow_app.command("report")
def shadow_report_cmd(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    version: Annotated[
        str | None,
        typer.Option("--version", help="Shadow MODEL@VERSION (default: the routed one)."),
    ] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Also write the HTML report.")] = None,
    min_pairs: Annotated[int, typer.Option(help="Paired answers needed to judge.", min=1)] = 50,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Compare a shadow's logged answers with the champion's (joined by prediction id): label
    agreement, score differences, latency, unanswered requests and a verdict; stored as a
    report (kind shadow) with the shadow version. Exit code 1 when the verdict is "do not
    promote", 0 for promote or hold.

    Example: [bold]modelyard shadow report arrests --html shadow.html[/]
    """
    from modelyard.orchestration.shadow_report import render_html, shadow_report

    with open_registry(project) as reg:
        report = shadow_report(reg, endpoint, version, min_pairs=min_pairs)
    if html is not None:
        html.write_text(render_html(report), encoding="utf-8")
    if json_:
        render.emit_json(report.to_dict())
        if report.passed is False:
            raise typer.Exit(1)
        return
    diff = report.score_diff or {}
    lat = report.latency_ms

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} ms"

    render.table(
        f"Shadow {report.shadow} vs {report.champion or '-'} on {endpoint}",
        ["figure", "value"],
        [
            ("pairs compared", report.pairs),
            ("label agreement", "-" if report.agreement is None else f"{report.agreement:.2%}"),
            (
                "|score diff| mean / p50 / p95 / max",
                " / ".join(f"{diff[k]:.4g}" for k in ("mean", "p50", "p95", "max"))
                if diff
                else "-",
            ),
            ("champion p50 / p99", f"{ms(lat['champion']['p50'])} / {ms(lat['champion']['p99'])}"),
            ("shadow p50 / p99", f"{ms(lat['shadow']['p50'])} / {ms(lat['shadow']['p99'])}"),
            ("unanswered by the shadow", report.unanswered),
            ("report", f"#{report.report_id}"),
        ],
    )
    colour = {True: "green", False: "red", None: "yellow"}[report.passed]
    render.console.print(f"[{colour}]{report.verdict}[/]")
    if report.passed is False:
        raise typer.Exit(1)
