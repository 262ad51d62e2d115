"""``serving.py --monitoring-cost``: what live monitoring and the prediction log cost the
server (issue 23), as its own figure.

The same ``modelyard serve NAME@1`` on the same project, started fresh for every run, with
monitoring and the prediction log on (the defaults) and off (``monitoring: {enabled: false}``
and the endpoint's ``prediction_log: {enabled: false}`` in the project file), in interleaved
A/B rounds (on/off, then off/on, ...), server pinned to core 0 and wrk to core 1. Each run:
warm-up, drain, a pause past the first background flush, then wrk for ``--duration`` seconds
at each concurrency; the server's CPU time per request comes from /proc (its whole process
tree: the event loop and the threads that count windows and write the log), the figure least
disturbed by other jobs on a shared machine. Every request carries one row, so µs per request
is µs per row. The report gives the median over rounds, on and off, and their difference: the
cost of monitoring.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import BenchError, log
from harness.launch import Server, running
from harness.procs import free_port, wait_quiet
from harness.report import fmt_num, table
from harness.wrk import LoadResult, Wrk, write_lua
from serving_models import BenchModel, Dataset
from serving_servers import Context, Launch, WireFormat, launch_modelyard

SETTLE_S = 3.0  # > the monitor's and the log's flush interval (1 s)
OFF = "monitoring:\n  enabled: false\nendpoints:\n{endpoints}"
OFF_ENDPOINT = "  {name}:\n    prediction_log: {{enabled: false}}\n"


@dataclass
class CostRuns:
    model: str
    runtime: str = "?"  # the serving path the server chose (its "model version loaded" log)
    on: dict[int, list[LoadResult]] = field(default_factory=dict)
    off: dict[int, list[LoadResult]] = field(default_factory=dict)


def set_monitoring(project: Path, base: str, models: list[BenchModel], on: bool) -> None:
    """The project file with monitoring and the prediction log on (as given) or off."""
    text = base
    if not on:
        endpoints = "".join(OFF_ENDPOINT.format(name=m.name) for m in models)
        text = base.rstrip("\n") + "\n" + OFF.format(endpoints=endpoints)
    (project / "modelyard.yaml").write_text(text)


Check = Callable[[str, Launch, BenchModel, Dataset], tuple[WireFormat, int]]
Drain = Callable[[str, WireFormat, Dataset], None]


def one_run(
    ctx: Context,
    model: BenchModel,
    on: bool,
    args: argparse.Namespace,
    runs: CostRuns,
    checks: tuple[Check, Drain],
) -> None:
    check_answers, drain = checks
    port = free_port()
    launch = launch_modelyard(ctx, model, port)
    label = "on" if on else "off"
    server = Server(
        f"modelyard-{label}",
        launch.cmd,
        launch.env,
        launch.cwd,
        ctx.workdir / f"cost-{model.name}-{label}.log",
    )
    base = f"http://127.0.0.1:{port}"
    with running(server):
        server.wait_ready(base + launch.health_path, args.startup_timeout)
        fmt, _ = check_answers(base, launch, model, model.data)
        lua = ctx.workdir / f"cost-{model.name}.lua"
        write_lua(lua, fmt.path, (fmt.body(row) for row in model.data.rows))
        for c in args.concurrency:
            if args.quiet_wait > 0:
                wait_quiet(args.quiet_wait)
            if args.warmup > 0:
                Wrk(base + fmt.path, lua, c, args.warmup, None).result()
            drain(base, fmt, model.data)
            # the monitor's first flush builds the version's baseline (once per server): let
            # it happen before the timed run, in both arms alike
            time.sleep(SETTLE_S)
            r = Wrk(base + fmt.path, lua, c, args.duration, server.pid).result()
            if r.errors:
                raise BenchError(f"{model.name} monitoring {label} c={c}: {r.errors} errors")
            (runs.on if on else runs.off).setdefault(c, []).append(r)
            log(
                f"{model.name} monitoring {label} c={c}: {r.rps:,.0f} req/s, server CPU "
                f"{fmt_num(r.server_cpu_us_per_req)} µs/req, other {r.foreign_core_load_pct:.0f}%"
            )
    found = re.search(r'"runtime":\s*"([^"]+)"', server.log_path.read_text(errors="replace"))
    if found:
        runs.runtime = found.group(1)


def monitoring_cost(
    ctx: Context, models: list[BenchModel], args: argparse.Namespace, checks: tuple[Check, Drain]
) -> list[CostRuns]:
    """Interleaved on/off rounds per model (see the module docstring); ``checks``: the
    benchmark's answer check and drain (``serving.check_answers``, ``serving.drain``)."""
    assert ctx.modelyard_project is not None
    project = ctx.modelyard_project
    base = (project / "modelyard.yaml").read_text()
    out = []
    try:
        for m in models:
            runs = CostRuns(m.name)
            out.append(runs)
            for i in range(args.rounds):
                for on in (True, False) if i % 2 == 0 else (False, True):
                    set_monitoring(project, base, models, on)
                    one_run(ctx, m, on, args, runs, checks)
    finally:
        (project / "modelyard.yaml").write_text(base)
    return out


def _median(results: list[LoadResult], attr: str) -> float | None:
    values = [getattr(r, attr) for r in results if getattr(r, attr) is not None]
    return statistics.median(values) if values else None


def cost_report(all_runs: list[CostRuns], concurrency: list[int], rounds: int) -> None:
    print(
        f"\nmonitoring cost: `modelyard serve` with live monitoring + prediction log on vs "
        f"off, {rounds} interleaved round(s), medians; one row per request, so µs per request "
        "= µs per row"
    )
    head = ["model", "path", "conc", "cpu µs/req on", "off", "cost µs/req", "req/s on", "off"]
    rows = [[*head, "other% on/off"]]
    for runs in all_runs:
        for c in concurrency:
            on, off = runs.on.get(c, []), runs.off.get(c, [])
            cpu_on, cpu_off = (
                _median(on, "server_cpu_us_per_req"),
                _median(off, "server_cpu_us_per_req"),
            )
            cost = cpu_on - cpu_off if cpu_on is not None and cpu_off is not None else None
            other_on, other_off = (
                _median(on, "foreign_core_load_pct"),
                _median(off, "foreign_core_load_pct"),
            )
            rows.append(
                [
                    runs.model,
                    runs.runtime,
                    str(c),
                    fmt_num(cpu_on),
                    fmt_num(cpu_off),
                    fmt_num(cost, "+,.0f"),
                    fmt_num(_median(on, "rps")),
                    fmt_num(_median(off, "rps")),
                    f"{fmt_num(other_on)}/{fmt_num(other_off)}",
                ]
            )
    print(table(rows, right={2, 3, 4, 5, 6, 7, 8}))
    for runs in all_runs:
        for c in concurrency:
            each = [
                f"{fmt_num(a.server_cpu_us_per_req)}/{fmt_num(b.server_cpu_us_per_req)}"
                for a, b in zip(runs.on.get(c, []), runs.off.get(c, []), strict=False)
            ]
            print(f"  {runs.model} c={c} per round, cpu µs/req on/off: {', '.join(each)}")
