"""The servers the serving benchmark compares: how each wants one row (``WireFormat``), and how
each is prepared and launched (``Launch``): modelyard, a bare Starlette app, BentoML with and
without batching, MLflow."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import BenchError, log
from harness.venvs import OUR_VENV, VenvInfo, clean_env, venv_python
from serving_models import BenchModel

BENCH_DIR = Path(__file__).resolve().parent


@dataclass
class WireFormat:
    """How one server wants a single row, and where its answer is."""

    label: str
    path: str
    body: Callable[[list[Any]], bytes]
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
    def body(row: list[Any]) -> bytes:
        tensor = {"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": row}
        return json.dumps({"inputs": [tensor]}).encode()

    return WireFormat(
        "Open Inference Protocol V2 (one 2-D FP64 tensor)",
        path,
        body,
        lambda j: j["outputs"][0]["data"],
    )


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
    venvs: dict[str, VenvInfo] = field(default_factory=dict)
    venv_errors: dict[str, str] = field(default_factory=dict)
    modelyard_project: Path | None = None
    modelyard_error: str | None = None
    mlflow_models: dict[str, Path] = field(default_factory=dict)
    modelyard_extra: list[str] = field(default_factory=list)
    modelyard_src: Path | None = None  # --modelyard-src: servers import modelyard from there


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
    sample = ctx.workdir / f"sample-{model.data.name}.json"
    if not sample.exists():
        sample.write_text(model.data.frame.head().to_json(orient="split", index=False))
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
    columns = model.data.columns

    def body(row: list[Any]) -> bytes:
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
            # registered with its training data, so the server's live monitoring (on by
            # default) has a baseline and is part of what is measured
            datasets: dict[str, Any] = {}
            for m in models:
                if m.data.name not in datasets:
                    datasets[m.data.name] = project.add_dataset(m.data.frame, m.data.name)
                with project.start_run(model=m.name) as run:
                    run.use_dataset(datasets[m.data.name], role="train")
                    run.log_model(m.estimator, sample_input=m.data.frame.head())
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
    env = clean_env(OUR_VENV)
    if ctx.modelyard_src is not None:
        env["PYTHONPATH"] = str(ctx.modelyard_src)
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
        env,
        ctx.modelyard_project,
        "/v2/health/ready",
        [
            v1_instances(path),
            v1_records(path, model.data.columns),
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
