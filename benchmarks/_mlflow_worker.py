"""MLflow half of ``benchmarks/registry.py``.

Runs inside the isolated venv at ``benchmarks/.venvs/mlflow`` (never in modelyard's venv), so
it imports only the standard library, MLflow and scikit-learn. It measures three workloads,
each on a fresh SQLite store (``sqlite:///...``) under ``--workdir``:

* ``batch``  -- ``MlflowClient.create_run`` + ``log_batch`` (10 params, 10 metrics) +
  ``set_terminated``: MLflow's fastest public tracking API.
* ``fluent`` -- ``mlflow.start_run`` + ``log_params`` + ``log_metrics`` (context manager).
* ``models`` -- per version: ``mlflow.start_run`` + ``mlflow.sklearn.log_model(...,
  input_example=X[:5], registered_model_name=...)`` against the model registry on the same
  SQLite file. ``--pip-requirements explicit`` passes ``pip_requirements`` so MLflow skips its
  requirements inference (which spawns a Python subprocess per model); ``inferred`` is MLflow's
  default behaviour.

Store creation (MLflow runs its schema migrations then), imports and model training are done
before the timer starts, and each phase is first run once untimed on a throwaway store so that
MLflow's lazy first-use imports are not timed either. The result is one JSON object printed
as the last line on stdout; everything MLflow itself prints goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

N_PARAMS = 10
N_METRICS = 10
MODEL_NAME = "bench"


def params_for(i: int) -> dict[str, Any]:
    """The same 10 params benchmarks/registry.py logs to modelyard for run ``i``."""
    return {f"p{k}": i * N_PARAMS + k for k in range(N_PARAMS)}


def metrics_for(i: int) -> dict[str, float]:
    """The same 10 metrics benchmarks/registry.py logs to modelyard for run ``i``."""
    return {f"m{k}": (i + 1) / (k + 1) for k in range(N_METRICS)}


def sqlite_uri(db: Path) -> str:
    return f"sqlite:///{db.resolve()}"


def fresh_store(workdir: Path, phase: str) -> tuple[Path, str, str]:
    """A new directory with an empty SQLite DB path and a file-URI artifact root."""
    d = workdir / phase
    d.mkdir(parents=True, exist_ok=False)
    artifacts = d / "artifacts"
    artifacts.mkdir()
    return d, sqlite_uri(d / "mlflow.db"), artifacts.resolve().as_uri()


def bench_batch(workdir: Path, n_runs: int, phase: str = "batch") -> dict[str, Any]:
    from mlflow.entities import Metric, Param, RunStatus
    from mlflow.tracking import MlflowClient

    d, uri, artifact_root = fresh_store(workdir, phase)
    os.chdir(d)
    client = MlflowClient(tracking_uri=uri)
    # Creating the experiment initialises the store (schema migrations): not timed.
    exp_id = client.create_experiment(MODEL_NAME, artifact_location=artifact_root)
    finished = RunStatus.to_string(RunStatus.FINISHED)

    t0 = time.perf_counter()
    for i in range(n_runs):
        run = client.create_run(exp_id)
        ts = int(time.time() * 1000)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, ts, 0) for k, v in metrics_for(i).items()],
            params=[Param(k, str(v)) for k, v in params_for(i).items()],
        )
        client.set_terminated(run.info.run_id, status=finished)
    elapsed = time.perf_counter() - t0

    got = len(client.search_runs([exp_id], max_results=n_runs + 1))
    if got != n_runs:
        raise RuntimeError(f"batch: expected {n_runs} runs in the store, found {got}")
    return {"n": n_runs, "seconds": elapsed, "per_s": n_runs / elapsed}


def bench_fluent(workdir: Path, n_runs: int, phase: str = "fluent") -> dict[str, Any]:
    import mlflow
    from mlflow.tracking import MlflowClient

    d, uri, artifact_root = fresh_store(workdir, phase)
    os.chdir(d)
    mlflow.set_tracking_uri(uri)
    exp_id = MlflowClient(tracking_uri=uri).create_experiment(
        MODEL_NAME, artifact_location=artifact_root
    )
    mlflow.set_experiment(experiment_id=exp_id)

    t0 = time.perf_counter()
    for i in range(n_runs):
        with mlflow.start_run():
            mlflow.log_params(params_for(i))
            mlflow.log_metrics(metrics_for(i))
    elapsed = time.perf_counter() - t0

    got = len(mlflow.search_runs([exp_id], max_results=n_runs + 1, output_format="list"))
    if got != n_runs:
        raise RuntimeError(f"fluent: expected {n_runs} runs in the store, found {got}")
    return {"n": n_runs, "seconds": elapsed, "per_s": n_runs / elapsed}


def train_model() -> tuple[Any, Any]:
    """LogisticRegression on standardised load_breast_cancer, and a 5-row sample input."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return LogisticRegression(max_iter=1000).fit(X, y), X[:5]


def bench_models(
    workdir: Path, n_versions: int, pip_requirements: str, phase: str = ""
) -> dict[str, Any]:
    import mlflow
    import mlflow.sklearn
    import sklearn
    from mlflow.tracking import MlflowClient

    d, uri, artifact_root = fresh_store(workdir, phase or f"models-{pip_requirements}")
    os.chdir(d)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp_id = client.create_experiment(MODEL_NAME, artifact_location=artifact_root)
    mlflow.set_experiment(experiment_id=exp_id)

    model, sample = train_model()

    kwargs: dict[str, Any] = {"input_example": sample, "registered_model_name": MODEL_NAME}
    # MLflow 3 names the model with ``name=``; ``artifact_path=`` is the MLflow 2 spelling.
    if "name" in inspect.signature(mlflow.sklearn.log_model).parameters:
        kwargs["name"] = "model"
    else:
        kwargs["artifact_path"] = "model"
    if pip_requirements == "explicit":
        kwargs["pip_requirements"] = [f"scikit-learn=={sklearn.__version__}"]

    t0 = time.perf_counter()
    for _ in range(n_versions):
        with mlflow.start_run():
            mlflow.sklearn.log_model(model, **kwargs)
    elapsed = time.perf_counter() - t0

    versions = client.search_model_versions(f"name='{MODEL_NAME}'", max_results=n_versions + 1)
    if len(versions) != n_versions:
        raise RuntimeError(f"models: expected {n_versions} versions, found {len(versions)}")
    return {
        "n": n_versions,
        "seconds": elapsed,
        "per_s": n_versions / elapsed,
        "pip_requirements": pip_requirements,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--versions", type=int, default=100)
    ap.add_argument("--workdir", type=Path, required=True, help="empty scratch directory")
    ap.add_argument(
        "--pip-requirements",
        choices=["explicit", "inferred", "both"],
        default="explicit",
        help="how log_model gets its requirements (see module docstring)",
    )
    args = ap.parse_args(argv)

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)

    real_stdout = sys.stdout
    result: dict[str, Any] = {"python": platform.python_version()}
    # Anything MLflow prints goes to stderr, so stdout carries only our JSON line.
    with contextlib.redirect_stdout(sys.stderr):
        import mlflow
        import sklearn

        result["mlflow_version"] = mlflow.__version__
        result["sklearn_version"] = sklearn.__version__
        workdir = args.workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        cwd = Path.cwd()
        try:
            # Each phase first runs once, untimed, on a throwaway store: MLflow imports a lot
            # lazily on first use (~3 s for the first log_model) and imports are not timed.
            if args.runs > 0:
                bench_batch(workdir, 1, phase="warmup-batch")
                result["batch"] = bench_batch(workdir, args.runs)
                bench_fluent(workdir, 1, phase="warmup-fluent")
                result["fluent"] = bench_fluent(workdir, args.runs)
            if args.versions > 0:
                modes = (
                    ["explicit", "inferred"]
                    if args.pip_requirements == "both"
                    else [args.pip_requirements]
                )
                for mode in modes:
                    bench_models(workdir, 1, mode, phase=f"warmup-models-{mode}")
                    result[f"models_{mode}"] = bench_models(workdir, args.versions, mode)
        finally:
            os.chdir(cwd)
    print(json.dumps(result), file=real_stdout, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
