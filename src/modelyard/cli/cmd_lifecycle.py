"""Lifecycle commands: deploy, rollback, deprecate, retire, catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli import render
from modelyard.cli.main import JsonOpt, ProjectOpt, app, open_registry

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
        str, typer.Option(help="direct, or canary (steps with automated analysis).")
    ] = "direct",
    steps: Annotated[
        str | None, typer.Option(help="Canary steps in percent, e.g. 5,25,50,100.")
    ] = None,
    interval: Annotated[float | None, typer.Option(help="Seconds per canary step.")] = None,
    reason: ReasonOpt = "deployed",
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Route an approved version on an endpoint; running servers pick it up without restart.

    Example: [bold]modelyard deploy arrests@2 --to arrests --role canary --weight 0.05[/]
    """
    from modelyard.cli.remote import remote
    from modelyard.core.errors import InvalidInput
    from modelyard.rollout.operations import deploy as do_deploy

    server = remote()
    if server is not None:
        if strategy != "direct":
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

    with open_registry(project) as reg:
        if strategy == "canary":
            from modelyard.rollout.canary import start

            mv = reg.model_version(ref)
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
        elif strategy == "direct":
            mv = do_deploy(reg, ref, to, role, weight, reason)
        else:
            raise InvalidInput(f"unknown strategy {strategy!r}: expected direct or canary")
        routes = reg.store.routes(to)
    if json_:
        render.emit_json(
            {
                "ref": mv.ref,
                "state": mv.state,
                "endpoint": to,
                "plan": [
                    {
                        "version": f"{r['model_name']}@{r['version']}",
                        "role": r["role"],
                        "weight": r["weight"],
                    }
                    for r in routes
                ],
            }
        )
        return
    render.console.print(f"{mv.ref} → {to} as {role}")
    _plan(to, routes)


def _plan(endpoint: str, routes: list[dict[str, object]]) -> None:
    render.table(
        f"Plan of {endpoint}",
        ["version", "role", "weight"],
        [
            (f"{r['model_name']}@{r['version']}", r["role"], f"{float(r['weight']):.0%}")  # type: ignore[arg-type]
            for r in routes
        ],
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
    from modelyard.rollout.operations import rollback as do_rollback

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
    from modelyard.rollout.operations import deprecate as do_deprecate

    with open_registry(project) as reg:
        mv = do_deprecate(reg, ref, reason)
    render.console.print(f"{mv.ref}: {render.state(mv.state)}")


@app.command()
def retire(
    ref: Annotated[str, typer.Argument(help="MODEL@VERSION.")],
    reason: ReasonOpt,
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Remove every route and archive the version: it can never be routed again.

    Example: [bold]modelyard retire arrests@1 -m "no traffic for 30 days"[/]
    """
    from modelyard.cli.remote import remote
    from modelyard.rollout.operations import retire as do_retire

    server = remote()
    if server is not None:
        doc = server.call("POST", f"/models/{ref}/retire", {"reason": reason})
        render.console.print(f"{doc['ref']}: {render.state(doc['state'])}")
        return
    with open_registry(project) as reg:
        mv = do_retire(reg, ref, reason)
    render.console.print(f"{mv.ref}: {render.state(mv.state)}")


@app.command()
def catalog(project: ProjectOpt = DEFAULT_PROJECT, json_: JsonOpt = False) -> None:
    """Active and deprecated models with owners, SLAs, traffic and last gate result; ghosts flagged.

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
                "; ".join(e.ghosts) and f"[red]{'; '.join(e.ghosts)}[/]",
            )
        )
    render.table(
        "Catalog",
        ["model", "status", "owner", "SLA", "versions", "traffic", "last gate", "ghosts"],
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

    One controller acts at a time (a lease in the store); state survives restarts.
    Example: [bold]modelyard rollout run --metrics-url http://127.0.0.1:8080/metrics[/]
    """
    import time

    from modelyard.rollout.canary import Controller
    from modelyard.rollout.signals import PrometheusScrape

    with open_registry(project) as reg:
        ctl = Controller(reg, PrometheusScrape(metrics_url))
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
    from modelyard.rollout.canary import rollout_status

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
