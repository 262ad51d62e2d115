"""Online-serving throughput and latency: modelyard vs a bare app, BentoML and MLflow.

One command, run with modelyard's own venv::

    .venv/bin/python benchmarks/serving.py [--duration 15] [--concurrency 1,16,64]
        [--only modelyard,bare,bentoml,bentoml-batch,mlflow] [--json]

Quick try-out: ``--duration 3 --concurrency 1,64``.

What it does (issue 4, "How it is checked"):

1. Trains the benchmark models on scikit-learn's bundled breast-cancer data (fitted on a DataFrame
   with the dataset's feature names): a StandardScaler + LogisticRegression pipeline (``logreg``)
   and a 100-tree RandomForest, depth 8, random_state 0 (``forest``). Both are written once with
   joblib, so every server scores the very same fitted objects.
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
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
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
from harness.report import fmt_num, table
from harness.venvs import OUR_VENV, VenvInfo, clean_env, ensure_venv, sklearn_pin, venv_python
from harness.wrk import WRK_TIMEOUT, LoadResult, Wrk, write_lua

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_SERVERS = ("modelyard", "bare", "bentoml", "bentoml-batch", "mlflow")
# Opt-in: modelyard predicting through scikit-learn itself (`serve --no-compile`), to tell the
# server's own overhead from the compiled predictors' gain.
ALL_SERVERS = (*DEFAULT_SERVERS[:1], "modelyard-nocompile", *DEFAULT_SERVERS[1:])
MODEL_TITLES = {
    "logreg": "StandardScaler + LogisticRegression pipeline",
    "forest": "RandomForest, 100 trees, max_depth 8",
}
GOAL_VS_BENTOML = 5.0
GOAL_VS_MLFLOW = 6.0
GOAL_P50_SLACK = 0.10


# --------------------------------------------------------------------------- models


@dataclass
class BenchModel:
    name: str
    title: str
    estimator: Any
    path: Path  # joblib file every server loads
    local_predict_us: float  # model.predict on one row (DataFrame), median, in-process
    local_predict_array_us: float  # the same on a bare 1x30 float64 array


@dataclass
class Dataset:
    frame: Any  # pandas.DataFrame with the feature names
    rows: list[list[float]]
    columns: list[str]


def load_data() -> Dataset:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.astype("float64")
    frame.attrs["target"] = bunch.target.to_numpy()
    return Dataset(frame, frame.to_numpy().tolist(), [str(c) for c in frame.columns])


def time_predict(estimator: Any, one_row: Any, budget_s: float = 0.5) -> float:
    """Median CPU time of one ``predict`` in µs (CPU, not wall: other jobs may share the core)."""
    estimator.predict(one_row)
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while time.perf_counter() < deadline or len(samples) < 5:
        t0 = time.thread_time()
        estimator.predict(one_row)
        samples.append(time.thread_time() - t0)
    return float(np.median(samples) * 1e6)


def train_models(data: Dataset, workdir: Path, names: Sequence[str]) -> list[BenchModel]:
    import joblib
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = data.frame.attrs["target"]
    makers: dict[str, Callable[[], Any]] = {
        "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "forest": lambda: RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0),
    }
    models = []
    for name in names:
        est = makers[name]().fit(data.frame, y)
        path = workdir / f"{name}.joblib"
        joblib.dump(est, path)
        us = time_predict(est, data.frame.head(1))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            us_array = time_predict(est, data.frame.head(1).to_numpy())
        models.append(BenchModel(name, MODEL_TITLES[name], est, path, us, us_array))
        log(
            f"trained {name}: train accuracy {est.score(data.frame, y):.3f}, local predict(1 row) "
            f"{us:.0f} µs on a DataFrame, {us_array:.0f} µs on an array"
        )
    return models


# --------------------------------------------------------------------------- HTTP + formats


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


@dataclass
class WireFormat:
    """How one server wants a single row, and where its answer is."""

    label: str
    path: str
    body: Callable[[list[float]], bytes]
    answer: Callable[[Any], list[Any]]


def v1_instances(path: str) -> WireFormat:
    return WireFormat(
        "KServe V1 instances (row lists)",
        path,
        lambda row: json.dumps({"instances": [row]}).encode(),
        lambda j: j["predictions"],
    )


def v1_records(path: str, columns: list[str]) -> WireFormat:
    return WireFormat(
        "KServe V1 instances (records)",
        path,
        lambda row: json.dumps({"instances": [dict(zip(columns, row, strict=True))]}).encode(),
        lambda j: j["predictions"],
    )


def v1_inputs(path: str) -> WireFormat:
    return WireFormat(
        "KServe V1 inputs (row lists)",
        path,
        lambda row: json.dumps({"inputs": [row]}).encode(),
        lambda j: j["predictions"],
    )


def v2_tensor(path: str) -> WireFormat:
    def body(row: list[float]) -> bytes:
        tensor = {"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": row}
        return json.dumps({"inputs": [tensor]}).encode()

    return WireFormat(
        "Open Inference Protocol V2 (one 2-D FP64 tensor)",
        path,
        body,
        lambda j: j["outputs"][0]["data"],
    )


# --------------------------------------------------------------------------- server specs


@dataclass
class Launch:
    cmd: list[str]
    env: dict[str, str]
    cwd: Path
    health_path: str
    formats: list[WireFormat]  # tried in order on the check rows; the first that is right wins
    version: str
    startup_timeout: float = 120.0


@dataclass
class Context:
    workdir: Path
    data: Dataset
    venvs: dict[str, VenvInfo] = field(default_factory=dict)
    venv_errors: dict[str, str] = field(default_factory=dict)
    modelyard_project: Path | None = None
    modelyard_error: str | None = None
    mlflow_models: dict[str, Path] = field(default_factory=dict)
    modelyard_extra: list[str] = field(default_factory=list)


def launch_bare(ctx: Context, model: BenchModel, port: int) -> Launch:
    py = venv_python(OUR_VENV)
    return Launch(
        [
            str(py),
            str(BENCH_DIR / "_serving_bare.py"),
            "--model",
            str(model.path),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ],
        clean_env(OUR_VENV),
        BENCH_DIR,
        "/health",
        [v1_instances("/predict")],
        "starlette "
        + importlib.metadata.version("starlette")
        + ", uvicorn "
        + importlib.metadata.version("uvicorn"),
    )


def launch_bentoml(ctx: Context, model: BenchModel, port: int, batching: bool) -> Launch:
    info = ctx.venvs.get("bentoml")
    if info is None:
        raise BenchError(ctx.venv_errors.get("bentoml", "BentoML venv unavailable"))
    venv = Path(info.path)
    env = clean_env(venv)
    env["BENCH_MODEL_PATH"] = str(model.path)
    env["BENCH_BATCHABLE"] = "1" if batching else "0"
    env["BENTOML_HOME"] = str(ctx.workdir / "bentoml-home")
    return Launch(
        [
            str(venv / "bin" / "bentoml"),
            "serve",
            "_serving_bentoml:Classifier",
            "--working-dir",
            str(BENCH_DIR),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env,
        BENCH_DIR,
        "/readyz",
        [
            WireFormat(
                "BentoML JSON {'instances': [[...]]}",
                "/predict",
                lambda row: json.dumps({"instances": [row]}).encode(),
                lambda j: j,
            )
        ],
        "bentoml " + info.versions.get("bentoml", "?"),
    )


def prepare_mlflow_model(ctx: Context, model: BenchModel) -> Path:
    if model.name in ctx.mlflow_models:
        return ctx.mlflow_models[model.name]
    info = ctx.venvs.get("mlflow")
    if info is None:
        raise BenchError(ctx.venv_errors.get("mlflow", "MLflow venv unavailable"))
    venv = Path(info.path)
    sample = ctx.workdir / "sample.json"
    if not sample.exists():
        sample.write_text(ctx.data.frame.head().to_json(orient="split", index=False))
    out = ctx.workdir / f"mlflow-{model.name}"
    proc = subprocess.run(
        [
            str(venv_python(venv)),
            str(BENCH_DIR / "_serving_mlflow_save.py"),
            str(model.path),
            str(sample),
            str(out),
        ],
        capture_output=True,
        text=True,
        env=clean_env(venv),
        cwd=ctx.workdir,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"mlflow.sklearn.save_model failed:\n{proc.stderr.strip()[-2000:]}")
    ctx.mlflow_models[model.name] = out
    return out


def launch_mlflow(ctx: Context, model: BenchModel, port: int) -> Launch:
    model_dir = prepare_mlflow_model(ctx, model)
    info = ctx.venvs["mlflow"]
    venv = Path(info.path)
    columns = ctx.data.columns

    def body(row: list[float]) -> bytes:
        return json.dumps({"dataframe_split": {"columns": columns, "data": [row]}}).encode()

    return Launch(
        [
            str(venv / "bin" / "mlflow"),
            "models",
            "serve",
            "-m",
            str(model_dir),
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        clean_env(venv),
        ctx.workdir,
        "/ping",
        [WireFormat("MLflow dataframe_split", "/invocations", body, lambda j: j["predictions"])],
        "mlflow " + info.versions.get("mlflow", "?"),
    )


def modelyard_serve_available() -> str | None:
    """None when `modelyard serve` exists, else why not."""
    exe = OUR_VENV / "bin" / "modelyard"
    if not exe.is_file():
        return f"{exe} not found"
    proc = subprocess.run(
        [str(exe), "serve", "--help"],
        capture_output=True,
        text=True,
        env=clean_env(OUR_VENV),
        timeout=120,
        check=False,
    )
    if proc.returncode != 0 or "--port" not in proc.stdout:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return "`modelyard serve --help` failed: " + " | ".join(tail)
    return None


def prepare_modelyard(ctx: Context, models: list[BenchModel]) -> None:
    reason = modelyard_serve_available()
    if reason is not None:
        ctx.modelyard_error = f"`modelyard serve` is not available yet ({reason})"
        return
    try:
        import modelyard

        project_dir = ctx.workdir / "modelyard-project"
        env = clean_env(OUR_VENV)
        project = modelyard.Project.init(project_dir, env=env)
        try:
            sample = ctx.data.frame.head()
            # registered with its training data, so the server's live monitoring (on by
            # default) has a baseline and is part of what is measured
            data = project.add_dataset(ctx.data.frame, "breast-cancer")
            for m in models:
                with project.start_run(model=m.name) as run:
                    run.use_dataset(data, role="train")
                    run.log_model(m.estimator, sample_input=sample)
        finally:
            project.close()
        ctx.modelyard_project = project_dir
    except Exception as exc:
        ctx.modelyard_error = f"registering the models in a modelyard project failed: {exc!r}"
        log(traceback.format_exc())


def launch_modelyard(
    ctx: Context, model: BenchModel, port: int, compile_paths: bool = True
) -> Launch:
    if ctx.modelyard_project is None:
        raise BenchError(ctx.modelyard_error or "modelyard project missing")
    path = f"/v1/models/{model.name}:predict"
    return Launch(
        [
            str(OUR_VENV / "bin" / "modelyard"),
            "serve",
            f"{model.name}@1",
            "--project",
            str(ctx.modelyard_project),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *([] if compile_paths else ["--no-compile"]),
            *ctx.modelyard_extra,
        ],
        clean_env(OUR_VENV),
        ctx.modelyard_project,
        "/v2/health/ready",
        [
            v1_instances(path),
            v1_records(path, ctx.data.columns),
            v1_inputs(path),
            v2_tensor(f"/v2/models/{model.name}/infer"),
        ],
        "modelyard " + importlib.metadata.version("modelyard"),
    )


def launch_for(ctx: Context, key: str, model: BenchModel, port: int) -> Launch:
    if key == "modelyard":
        return launch_modelyard(ctx, model, port)
    if key == "modelyard-nocompile":
        return launch_modelyard(ctx, model, port, compile_paths=False)
    if key == "bare":
        return launch_bare(ctx, model, port)
    if key == "bentoml":
        return launch_bentoml(ctx, model, port, batching=False)
    if key == "bentoml-batch":
        return launch_bentoml(ctx, model, port, batching=True)
    if key == "mlflow":
        return launch_mlflow(ctx, model, port)
    raise BenchError(f"unknown server {key!r}")


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


def check_rows(data: Dataset, per_class: int = 4) -> list[int]:
    y = data.frame.attrs["target"]
    picked: list[int] = []
    for cls in sorted(set(y.tolist())):
        picked += [int(i) for i in np.flatnonzero(y == cls)[:per_class]]
    return sorted(picked)


def check_answers(
    base: str, launch: Launch, model: BenchModel, data: Dataset
) -> tuple[WireFormat, int]:
    """Pick the first wire format whose answers equal model.predict on the check rows."""
    rows = check_rows(data)
    expected = model.estimator.predict(data.frame.iloc[rows])
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


@dataclass
class ServerResult:
    server: str
    model: str
    ok: bool
    skipped: bool = False  # not available at all (e.g. `modelyard serve` not implemented yet)
    version: str = ""
    wire_format: str = ""
    error: str | None = None
    startup_s: float | None = None
    rss_mb_loaded: float | None = None
    rss_mb_after: float | None = None
    runs: list[LoadResult] = field(default_factory=list)

    def at(self, concurrency: int) -> LoadResult | None:
        return next((r for r in self.runs if r.concurrency == concurrency), None)


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
            fmt, n = check_answers(base, launch, model, ctx.data)
            result.wire_format = fmt.label
            result.rss_mb_loaded = round(tree_rss_mb(server.pid), 1)
            log(
                f"{key}/{model.name}: ready in {result.startup_s}s, {n} answers right "
                f"({fmt.label}, POST {fmt.path})"
            )
            lua = ctx.workdir / f"{key}-{model.name}.lua"
            write_lua_for(lua, fmt, ctx.data)
            for c in args.concurrency:
                if args.quiet_wait > 0:
                    wait_quiet(args.quiet_wait)
                apply_priority(process_tree(server.pid))  # workers start late (BentoML)
                if args.warmup > 0:
                    Wrk(base + fmt.path, lua, c, args.warmup, None).result()
                # wrk walks away from up to c requests in flight: let the server finish them
                # first, or the timed run starts behind a backlog of abandoned work.
                drain(base, fmt, ctx.data)
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


# --------------------------------------------------------------------------- report


@dataclass
class Goal:
    name: str
    value: str
    met: bool | None  # None: could not be judged


def goals_for(results: dict[str, ServerResult], top: int, low: int) -> list[Goal]:
    """The issue's goals for one model; met=None when they cannot be judged."""
    my = results.get("modelyard")

    def run(key: str, c: int) -> LoadResult | None:
        r = results.get(key)
        x = r.at(c) if r is not None and r.ok else None
        return x if x is not None and x.requests else None

    def missing(name: str, side: str) -> Goal:
        if my is None or my.skipped:
            return Goal(name, "n/a: modelyard not measured", None)
        if not my.ok:
            first = (my.error or "failed").splitlines()[0]
            return Goal(name, f"modelyard failed: {first}", False)
        return Goal(name, f"n/a: {side} not measured", None)

    my_top, my_low = run("modelyard", top), run("modelyard", low)
    bento = [x for x in (run("bentoml", top), run("bentoml-batch", top)) if x is not None]
    best_bento = max(bento, key=lambda x: x.rps) if bento else None
    mlf = run("mlflow", top)
    bare_low = run("bare", low)
    goals: list[Goal] = []

    for name, other, side, goal in (
        (
            f"req/s vs best BentoML @c{top} >= {GOAL_VS_BENTOML:g}x",
            best_bento,
            "BentoML",
            GOAL_VS_BENTOML,
        ),
        (f"req/s vs MLflow @c{top} >= {GOAL_VS_MLFLOW:g}x", mlf, "MLflow", GOAL_VS_MLFLOW),
    ):
        if my_top is None or other is None or other.rps == 0:
            goals.append(missing(name, side))
        else:
            ratio = my_top.rps / other.rps
            goals.append(
                Goal(
                    name,
                    f"{ratio:.2f}x ({my_top.rps:,.0f} vs {other.rps:,.0f} req/s)",
                    ratio >= goal,
                )
            )

    name = f"p99 @c{top} lower than BentoML and MLflow"
    others = [x for x in (*bento, mlf) if x is not None]
    if my_top is None or not bento or mlf is None:
        goals.append(missing(name, "BentoML/MLflow"))
    else:
        lowest = min(x.p99_ms for x in others)
        goals.append(
            Goal(
                name,
                f"{my_top.p99_ms:.2f} ms vs lowest anchor {lowest:.2f} ms",
                my_top.p99_ms < lowest,
            )
        )

    name = f"p50 @c{low} within {GOAL_P50_SLACK:.0%} of bare"
    if my_low is None or bare_low is None:
        goals.append(missing(name, "bare"))
    else:
        d = my_low.p50_ms / bare_low.p50_ms - 1
        goals.append(
            Goal(
                name,
                f"{d:+.1%} ({my_low.p50_ms:.3f} vs {bare_low.p50_ms:.3f} ms)",
                d <= GOAL_P50_SLACK,
            )
        )

    if my is None or not my.ok:
        goals.append(missing("zero errors", "modelyard"))
    else:
        n = sum(r.errors for r in my.runs)
        goals.append(Goal("zero errors", f"{n} errors in {len(my.runs)} runs", n == 0))
    return goals


def context_ratios(results: dict[str, ServerResult], top: int) -> list[str]:
    """Ratios at the top concurrency by req/s and by server CPU per request.

    CPU per request is the steadier of the two when other jobs share the machine.
    """

    def run(key: str) -> LoadResult | None:
        r = results.get(key)
        x = r.at(top) if r is not None and r.ok else None
        return x if x is not None and x.requests else None

    lines = []
    for mine in ("modelyard", "modelyard-nocompile", "bare"):
        a = run(mine)
        if a is None:
            continue
        for other in ("bare", "bentoml", "bentoml-batch", "mlflow"):
            b = run(other)
            if other == mine or b is None or not b.rps:
                continue
            line = f"{mine} / {other} @c{top}: req/s {a.rps / b.rps:.2f}x"
            if a.server_cpu_us_per_req and b.server_cpu_us_per_req:
                cpu = b.server_cpu_us_per_req / a.server_cpu_us_per_req
                line += f", CPU per request {cpu:.2f}x less"
            lines.append(line)
    return lines


def report(
    models: list[BenchModel],
    all_results: dict[str, dict[str, ServerResult]],
    concurrency: list[int],
) -> dict[str, list[Goal]]:
    top, low = max(concurrency), min(concurrency)
    goals_by_model: dict[str, list[Goal]] = {}
    for m in models:
        results = all_results.get(m.name)
        if results is None:  # interrupted before this model's turn
            continue
        print(
            f"\n== {m.name}: {m.title} (local model.predict, 1 row: "
            f"{m.local_predict_us:,.0f} µs on a DataFrame, {m.local_predict_array_us:,.0f} µs on "
            "an array) =="
        )
        head = ["server", "conc", "req/s", "p50 ms", "p99 ms", "errors", "cpu µs/req", "rss MB"]
        rows = [[*head, "other%"]]
        failures = []
        for key, r in results.items():
            if not r.ok and not r.runs:
                failures.append(f"{key}: {r.error.splitlines()[0] if r.error else 'failed'}")
                continue
            for x in r.runs:
                rows.append(
                    [
                        key,
                        str(x.concurrency),
                        fmt_num(x.rps),
                        f"{x.p50_ms:.2f}" if x.requests else "-",
                        f"{x.p99_ms:.2f}" if x.requests else "-",
                        str(x.errors),
                        fmt_num(x.server_cpu_us_per_req),
                        fmt_num(r.rss_mb_after),
                        f"{x.foreign_core_load_pct:.0f}",
                    ]
                )
        if len(rows) > 1:
            print(table(rows, right={1, 2, 3, 4, 5, 6, 7, 8}))
        for f in failures:
            print(f"  not measured: {f}")
        if len(rows) > 1:
            print(
                "  (cpu µs/req: the server's CPU time per request; other%: share of the server's "
                f"core {SERVER_CORE} used by other processes during the run, noise if > 5)"
            )
        goals = goals_for(results, top, low)
        goals_by_model[m.name] = goals
        print(f"\n  goals ({m.name}):")
        for g in goals:
            mark = "n/a" if g.met is None else ("met" if g.met else "NOT MET")
            print(f"    [{mark:>7}] {g.name}: {g.value}")
        for line in context_ratios(results, top):
            print(f"    context: {line}")
    return goals_by_model


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
    p.add_argument("--models", default="logreg,forest", help="logreg,forest")
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
        data = load_data()
        ctx = Context(workdir, data, modelyard_extra=list(args.modelyard_arg))
        models = train_models(data, workdir, args.models)
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
                    "local_predict_array_us": round(m.local_predict_array_us, 1),
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
