"""Serving commands: ``modelyard serve`` and ``modelyard endpoints list|show|throttle``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli.app import JsonOpt, ProjectOpt, app, open_registry
from modelyard.core.errors import IllegalTransition, NotFound
from modelyard.registry import endpoints, queries
from modelyard.terminal import render

DEFAULT_PROJECT = Path(".")
endpoints_app = typer.Typer(help="Endpoints and their deployment plans.", no_args_is_help=True)
app.add_typer(endpoints_app, name="endpoints")


@app.command()
def serve(
    ref: Annotated[
        str | None,
        typer.Argument(
            metavar="[MODEL@VERSION]",
            help="Serve one version as endpoint MODEL (no set-up). Without it: every endpoint "
            "with routes in the store.",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = 8080,
    workers: Annotated[int, typer.Option(help="Server processes on the socket.", min=1)] = 1,
    endpoint: Annotated[
        list[str] | None,
        typer.Option("--endpoint", "-e", help="Serve only these endpoints (repeatable)."),
    ] = None,
    refresh: Annotated[
        float, typer.Option(help="Seconds between deployment-plan checks.", min=0.05)
    ] = 1.0,
    no_compile: Annotated[
        bool, typer.Option("--no-compile", help="Always predict through the model's own code.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate: serve HTTPS.", exists=True)
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="PEM private key for --tls-cert.", exists=True)
    ] = None,
    monitor: Annotated[
        bool,
        typer.Option(
            "--monitor",
            help="Also run the live monitor loop (judge windows, alerts, playbooks) in this "
            "process; safe on every replica: one leader acts at a time.",
        ),
    ] = False,
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Start the inference server (KServe V1 and Open Inference Protocol V2), with the
    management API under /api and the dashboard under /ui (both always need an API token).

    Inference (:predict, :explain, /infer), /metrics and model status need an API token
    (Authorization: Bearer <token>; 'predict' permission to predict, 'read' for /metrics and
    status details) when modelyard.yaml says serving.auth: token (serving.metrics_auth for
    /metrics). The default, serving.auth: none, leaves them open: fine on 127.0.0.1, and
    announced with a warning when --host is any other address. Health routes
    (/v2/health/live, /v2/health/ready) are always open.

    Examples: [bold]modelyard serve churn@3 --port 8080[/] ·
    [bold]modelyard serve --workers 4[/]
    """
    from modelyard.cli.serve_app import run as run_server
    from modelyard.core.lifecycle import ROUTABLE, State
    from modelyard.serving.stack import ServeSpec

    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("--tls-cert and --tls-key go together")

    with open_registry(project) as reg:
        project_dir = str(reg.settings.project_dir)
        serving_config = reg.config.serving
        if ref:
            mv = reg.model_version(ref)
            if mv.state == State.RETIRED:
                raise IllegalTransition(
                    f"{mv.ref} is retired: retired versions are archived and never serve again",
                    hint="serve a newer version",
                )
            if State(mv.state) not in ROUTABLE and mv.state != State.APPROVED:
                render.err_console.print(
                    f"[yellow]warning:[/] {mv.ref} is {mv.state}: the lifecycle does not allow "
                    "it production traffic; serving it as a local development server only",
                    highlight=False,
                )
            what = f"{mv.ref} as endpoint {mv.model_name!r}"
        else:
            names = sorted(queries.routed_endpoints(reg))
            if endpoint:
                names = [n for n in names if n in set(endpoint)]
            if not names:
                raise NotFound(
                    "no endpoint has routes in the store",
                    hint="deploy a version first (modelyard deploy MODEL@VERSION ENDPOINT), "
                    "or serve one version: modelyard serve MODEL@VERSION",
                )
            what = f"endpoints {', '.join(names)}"
    spec = ServeSpec(
        project=project_dir,
        ref=ref,
        endpoints=tuple(endpoint) if endpoint else None,
        refresh_s=refresh,
        log_level=log_level,
        compile_paths=not no_compile,
    )
    from modelyard.serving.metrics import shared_metrics_dir

    scheme = "https" if tls_cert else "http"
    render.err_console.print(
        f"serving {what} on {scheme}://{host}:{port} ({workers} worker{'s' * (workers > 1)}); "
        f"V1 /v1/models/NAME:predict, V2 /v2/models/NAME/infer, /metrics, /openapi.json, "
        f"/api/v1, /ui",
        highlight=False,
    )
    from modelyard.serving.auth import exposure_warnings

    for warning in exposure_warnings(serving_config, host, port):
        render.err_console.print(
            f"[bold red]warning:[/] {warning}", highlight=False, soft_wrap=True
        )
    tls = (str(tls_cert), str(tls_key)) if tls_cert and tls_key else None
    with _monitor_thread(Path(project_dir) if monitor else None):
        if workers <= 1:
            run_server(spec, host, port, workers, tls)
            return
        # several workers: one metrics folder for all of them, so any worker's /metrics adds
        # up every worker's counters; removed when the server exits
        with shared_metrics_dir() as metrics_dir:
            run_server(replace(spec, metrics_dir=metrics_dir), host, port, workers, tls)


@contextlib.contextmanager
def _monitor_thread(project: Path | None) -> Iterator[None]:
    """``serve --monitor``: the `monitor run` loop on a daemon thread beside the server (it
    takes the same lease, so several replicas started this way still have one acting monitor)."""
    if project is None:
        yield
        return
    import threading

    from modelyard.cli.cmd_monitor import run_loop

    stop = threading.Event()
    thread = threading.Thread(
        target=run_loop, args=(project, stop), name="modelyard-monitor", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def _plan(reg: Any, name: str) -> dict[str, Any]:
    config = reg.config.endpoints.get(name)
    routes = queries.routes(reg, name)
    return {
        "endpoint": name,
        "generation": queries.route_generation(reg, name),
        "routes": [
            {
                "model_version": f"{r.model_name}@{r.version}",
                "role": r.role,
                "weight": r.weight,
                "state": r.state,
                "since": r.created_at,
            }
            for r in routes
        ],
        "config": config.model_dump(mode="json") if config else None,
        "overrides": endpoints.overrides(reg, name),
    }


@endpoints_app.command("list")
def endpoints_list(project: ProjectOpt = DEFAULT_PROJECT, json_: JsonOpt = False) -> None:
    """List endpoints (from the store's routes and the project file) with their plans."""
    with open_registry(project) as reg:
        names = sorted(queries.routed_endpoints(reg) | set(reg.config.endpoints))
        plans = [_plan(reg, n) for n in names]
    if json_:
        render.emit_json(plans)
        return
    rows = []
    for p in plans:
        desc = ", ".join(
            f"{r['model_version']} {r['role']}"
            + (f" {r['weight']:.0%}" if r["role"] == "canary" else "")
            for r in p["routes"]
        )
        rows.append((p["endpoint"], p["generation"], desc or "[dim](no routes)[/]"))
    render.table("Endpoints", ["endpoint", "generation", "plan"], rows)


@endpoints_app.command("show")
def endpoints_show(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Show one endpoint: its routes (plan) and its routing configuration."""
    with open_registry(project) as reg:
        known = queries.routed_endpoints(reg) | set(reg.config.endpoints)
        if name not in known:
            raise NotFound(
                f"no endpoint {name!r}", hint=f"endpoints: {', '.join(sorted(known)) or 'none'}"
            )
        plan = _plan(reg, name)
    if json_:
        render.emit_json(plan)
        return
    render.console.print(f"[bold]endpoint {name}[/]  generation {plan['generation']}")
    render.table(
        "Plan",
        ["version", "role", "weight", "state", "since"],
        [
            (
                r["model_version"],
                r["role"],
                f"{r['weight']:.2f}",
                render.state(r["state"]),
                render.ago(r["since"]),
            )
            for r in plan["routes"]
        ],
    )
    cfg = plan["config"]
    if cfg:
        for key in ("latency_budget_ms", "fallback", "sticky_header"):
            if cfg.get(key) is not None:
                render.console.print(f"  {key}: {cfg[key]}")
        for seg in cfg.get("segments") or []:
            src = f"header {seg['header']}" if seg.get("header") else f"feature {seg['feature']}"
            match = seg.get("equals") if seg.get("equals") is not None else seg.get("one_of")
            render.console.print(f"  segment: {src} = {match} → {seg['model']}")
        b, c, t = cfg["batching"], cfg["cache"], cfg["throttle"]
        render.console.print(
            f"  batching: {'on' if b['enabled'] else 'off'} (max {b['max_batch_rows']} rows, "
            f"wait {b['max_wait_ms']} ms) · cache: {'on' if c['enabled'] else 'off'} · "
            f"throttle: concurrency {t['max_concurrency'] or '∞'}, rate {t['rate_per_s'] or '∞'}/s"
        )
    over = plan["overrides"]
    if over:
        for key, value in over.items():
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) or "(project file's)"
            render.console.print(
                f"  [yellow]override[/] {key}: {shown}  "
                f"[dim](run-time; clear with modelyard endpoints {key} {name} --clear)[/]"
            )


@endpoints_app.command("throttle")
def endpoints_throttle(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    reason: Annotated[str, typer.Option("--reason", "-m", help="Why (recorded in the audit log).")],
    rate: Annotated[
        float | None, typer.Option("--rate", help="Requests per second allowed.", min=0.001)
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="In-flight requests allowed.", min=1)
    ] = None,
    burst: Annotated[
        int | None, typer.Option("--burst", help="Token-bucket size (default: 1 s of rate).", min=1)
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove the override: the project file's limits apply.")
    ] = False,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Throttle an endpoint at run time: running servers apply it at their next plan refresh,
    without a restart. The override replaces an earlier one and is laid over the project
    file's throttle settings; --clear removes it. Audited.

    Example: [bold]modelyard endpoints throttle churn --rate 50 --concurrency 8 -m "incident"[/]
    """
    from modelyard.core.errors import InvalidInput
    from modelyard.registry.endpoints import set_overrides

    if clear and (rate is not None or concurrency is not None or burst is not None):
        raise InvalidInput("--clear takes no limits: give either --clear or --rate/--concurrency")
    if not clear and rate is None and concurrency is None:
        raise InvalidInput(
            "give --rate and/or --concurrency (or --clear to remove the override)",
            hint='e.g. modelyard endpoints throttle churn --rate 50 -m "overload"',
        )
    limits: dict[str, Any] = {}
    if rate is not None:
        limits["rate_per_s"] = rate
    if concurrency is not None:
        limits["max_concurrency"] = concurrency
    if burst is not None:
        limits["burst"] = burst
    with open_registry(project) as reg:
        known = queries.routed_endpoints(reg) | set(reg.config.endpoints)
        if name not in known:
            raise NotFound(
                f"no endpoint {name!r}", hint=f"endpoints: {', '.join(sorted(known)) or 'none'}"
            )
        current = dict(endpoints.overrides(reg, name) or {})
        if clear:
            current.pop("throttle", None)
        else:
            current["throttle"] = limits
        generation = set_overrides(reg, name, current or None, reg.settings.user, reason)
        overrides = endpoints.overrides(reg, name)
    if json_:
        render.emit_json({"endpoint": name, "generation": generation, "overrides": overrides})
        return
    what = (
        "throttle override cleared"
        if clear
        else "throttle override set: " + ", ".join(f"{k} {v}" for k, v in limits.items())
    )
    render.console.print(
        f"[green]✓[/] {name}: {what} (generation {generation}; running servers apply it at "
        "their next refresh)"
    )


@app.command()
def replay(
    endpoint: Annotated[str, typer.Argument(help="Endpoint whose prediction log to replay.")],
    on: Annotated[str, typer.Option("--on", help="MODEL@VERSION to re-score the inputs with.")],
    limit: Annotated[int | None, typer.Option(help="Replay at most this many predictions.")] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Re-score an endpoint's logged inputs on another version and report differences.

    Example: [bold]modelyard replay churn --on churn@4[/]
    """
    from modelyard.serving.replay import replay as run_replay

    with open_registry(project) as reg, render.console.status(f"replaying {endpoint} on {on}…"):
        report = run_replay(reg, endpoint, on, limit)
    if json_:
        render.emit_json(report.to_dict())
        return
    if report.logged == 0:
        render.console.print(f"[yellow]no logged predictions for endpoint {endpoint!r}[/]")
        return
    agree = report.agreement
    render.console.print(
        f"replayed {report.replayed:,} of {report.logged:,} logged predictions of "
        f"[bold]{endpoint}[/] on [bold]{report.target}[/]: {report.differing:,} differ"
        + (f" (agreement {agree:.2%})" if agree is not None else "")
    )
    if report.skipped_no_input:
        render.console.print(
            f"  {report.skipped_no_input:,} had no logged input (prediction_log.input_sample)"
        )
    if report.skipped_invalid:
        render.console.print(f"  {report.skipped_invalid:,} do not fit {report.target}'s signature")
    if report.pii_altered:
        render.console.print(
            f"  {report.pii_altered:,} had PII fields hashed or dropped before logging"
        )
    render.table(
        "Differences (first 10)",
        ["prediction id", "answered by", "logged", "replayed"],
        [(e["id"], e["version"], e["logged"], e["replayed"]) for e in report.examples],
    )


@app.command()
def convert(
    ref: Annotated[str, typer.Argument(metavar="MODEL@VERSION", help="Version to convert.")],
    to: Annotated[str, typer.Option("--to", help="Target runtime (onnx).")] = "onnx",
    tolerance: Annotated[
        float, typer.Option(help="Largest probability difference accepted.", min=0)
    ] = 1e-4,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Convert a version to a faster runtime, check parity, register it as a derived version.

    Example: [bold]modelyard convert churn@3 --to onnx[/]
    """
    from modelyard.core.errors import InvalidInput
    from modelyard.serving.convert import convert_to_onnx

    if to != "onnx":
        raise InvalidInput(f"unknown target runtime {to!r}: expected 'onnx'")
    with open_registry(project) as reg, render.console.status(f"converting {ref} to ONNX…"):
        result = convert_to_onnx(reg, ref, tolerance)
    out = {
        "source": result.source.ref,
        "derived": result.derived.ref if result.derived else None,
        **result.summary,
    }
    if json_:
        render.emit_json(out)
    elif result.derived is None:
        render.console.print(
            f"[red]parity check failed[/] for {result.source.ref}: {result.summary}"
        )
    else:
        lat = result.summary["latency_1_row_us"]
        render.console.print(
            f"[green]✓[/] registered [bold]{result.derived.ref}[/] (ONNX Runtime, parent "
            f"{result.source.ref}); parity on {result.summary['rows']} rows; one row: "
            f"{lat['onnxruntime']:.0f} µs vs {lat['sklearn']:.0f} µs in scikit-learn"
        )
    if result.derived is None:
        raise typer.Exit(1)
