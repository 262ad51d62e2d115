"""Metadata-logging throughput: modelyard (SQLite) vs MLflow (SQLite tracking + registry).

One command runs both tools on the same workload in the same invocation:

    .venv/bin/python benchmarks/registry.py [--runs 1000] [--versions 100]
        [--only mlflow|modelyard] [--json] [--mlflow-reqs explicit|inferred|both]
        [--repeat K] [--reinstall]

Workload (identical for both tools, each phase on a fresh temporary store):

* runs:     N runs, each logging 10 params and 10 metrics (as one batch where the API allows).
* versions: M registered versions of one LogisticRegression fitted on sklearn's
  load_breast_cancer, logged with a 5-row sample input, one run per version.

modelyard runs in-process (this venv). MLflow is never installed here: on first use the script
creates ``benchmarks/.venvs/mlflow`` with ``uv venv`` + ``uv pip install mlflow`` (falling back
to ``mlflow-skinny`` + sqlalchemy + alembic) and runs ``benchmarks/_mlflow_worker.py`` with that
venv's Python. Only the logging loops are timed: not venv setup, imports, store creation
(schema migrations) or model training, and each phase first runs once untimed on a throwaway
store so that first-use lazy imports are not timed either. The goal printed alongside:
modelyard >= 5x MLflow.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import log, set_log_name
from harness.report import ratio, table
from harness.venvs import INSTALL_TIMEOUT_S, MARKER_NAME, VENVS, sklearn_pin, venv_python

BENCH_DIR = Path(__file__).resolve().parent
WORKER = BENCH_DIR / "_mlflow_worker.py"
MLFLOW_VENV = VENVS / "mlflow"
MARKER = MLFLOW_VENV / MARKER_NAME
GOAL = 5.0
N_PARAMS = 10
N_METRICS = 10
WORKER_TIMEOUT_S = 7200


# Kept identical to _mlflow_worker.params_for / metrics_for (that file can't import ours).
def params_for(i: int) -> dict[str, Any]:
    return {f"p{k}": i * N_PARAMS + k for k in range(N_PARAMS)}


def metrics_for(i: int) -> dict[str, float]:
    return {f"m{k}": (i + 1) / (k + 1) for k in range(N_METRICS)}


# --------------------------------------------------------------------------- MLflow anchor env


def clean_env() -> dict[str, str]:
    """Our environment minus anything that would point a child at this venv or a server."""
    env = dict(os.environ)
    for var in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "MLFLOW_TRACKING_URI"):
        env.pop(var, None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    # No network at run time: MLflow 3 ships opt-out usage telemetry.
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    env["GIT_PYTHON_REFRESH"] = "quiet"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cmd(cmd: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    log("$ " + " ".join(cmd))
    return subprocess.run(
        list(cmd),
        env=clean_env(),
        cwd=BENCH_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


PROBE = "import mlflow, mlflow.sklearn, sqlalchemy, alembic, sklearn; print(mlflow.__version__)"


def probe_mlflow(py: Path) -> subprocess.CompletedProcess[str]:
    """Does this interpreter have everything the worker imports? Prints mlflow's version."""
    return run_cmd([str(py), "-c", PROBE], timeout=300)


def ensure_mlflow_env(reinstall: bool = False) -> dict[str, Any]:
    """Make benchmarks/.venvs/mlflow usable, building it only if it isn't there yet.

    The venv is shared with other benchmarks' MLflow anchors, so an existing one that already
    imports what the worker needs is reused as is (never deleted unless ``--reinstall``), and
    one that lacks something gets the missing packages installed into it.
    """
    py = venv_python(MLFLOW_VENV)
    if not reinstall and py.is_file():
        if MARKER.is_file():
            cached: dict[str, Any] = json.loads(MARKER.read_text())
            cached["created_now"] = False
            what = f"{cached.get('variant')}, mlflow {cached.get('mlflow_version')}"
            log(f"reusing {MLFLOW_VENV} ({what})")
            return cached
        probe = probe_mlflow(py)
        if probe.returncode == 0:
            version = probe.stdout.strip().splitlines()[-1]
            log(f"reusing {MLFLOW_VENV} (built elsewhere, mlflow {version})")
            return {"variant": "preexisting", "mlflow_version": version, "created_now": False}
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("`uv` is not on PATH: it is needed to build the MLflow anchor venv")
    if reinstall and MLFLOW_VENV.exists():
        shutil.rmtree(MLFLOW_VENV)
    MLFLOW_VENV.parent.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    if not py.is_file():
        # Same interpreter version as ours, so the comparison is not also a CPython comparison.
        proc = run_cmd(
            [uv, "venv", "--no-project", "--python", sys.executable, str(MLFLOW_VENV)],
            timeout=300,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"uv venv failed:\n{proc.stderr.strip()}")
    sk = sklearn_pin()
    variants: list[tuple[str, list[str]]] = [
        ("mlflow", ["mlflow", sk]),
        ("mlflow-skinny", ["mlflow-skinny", "sqlalchemy", "alembic", "pandas", sk]),
    ]
    failures: list[str] = []
    for variant, pkgs in variants:
        proc = run_cmd(
            [uv, "pip", "install", "--python", str(py), *pkgs], timeout=INSTALL_TIMEOUT_S
        )
        if proc.returncode != 0:
            failures.append(f"{variant}: {proc.stderr.strip()[-2000:]}")
            log(f"installing {variant} failed; trying the next option")
            continue
        check = probe_mlflow(py)
        if check.returncode != 0:
            failures.append(f"{variant}: installed but import failed: {check.stderr[-2000:]}")
            log(f"{variant} installed but does not import; trying the next option")
            continue
        seconds = time.perf_counter() - t0
        info: dict[str, Any] = {
            "variant": variant,
            "packages": pkgs,
            "mlflow_version": check.stdout.strip().splitlines()[-1],
            "setup_seconds": round(seconds, 1),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        MARKER.write_text(json.dumps(info, indent=2) + "\n")
        info["created_now"] = True
        log(f"built {MLFLOW_VENV} with {variant} {info['mlflow_version']} in {seconds:.1f}s")
        return info
    raise RuntimeError("could not install MLflow into the anchor venv:\n" + "\n".join(failures))


def bench_mlflow(n_runs: int, n_versions: int, reqs: str, reinstall: bool) -> dict[str, Any]:
    env_info = ensure_mlflow_env(reinstall)
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-mlflow-") as tmp:
        cmd = [
            str(venv_python(MLFLOW_VENV)),
            str(WORKER),
            "--runs",
            str(n_runs),
            "--versions",
            str(n_versions),
            "--workdir",
            tmp,
            "--pip-requirements",
            reqs,
        ]
        t0 = time.perf_counter()
        proc = run_cmd(cmd, timeout=WORKER_TIMEOUT_S)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"MLflow worker exited {proc.returncode}; its stderr ends with:\n"
            + "\n".join(proc.stderr.strip().splitlines()[-30:])
        )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"MLflow worker printed no JSON result; stdout was:\n{proc.stdout}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["env"] = env_info
    result["worker_wall_seconds"] = round(wall, 2)
    return result


# --------------------------------------------------------------------------- modelyard


def bench_modelyard(n_runs: int, n_versions: int) -> dict[str, Any]:
    try:
        import modelyard
    except ImportError as exc:
        raise RuntimeError(f"modelyard is not importable in {sys.executable}: {exc}") from exc
    project_cls = getattr(modelyard, "Project", None)
    if project_cls is None:
        raise RuntimeError(
            "modelyard.Project does not exist yet (the Python API this benchmark targets: "
            "Project.init / start_run / log_params / log_metrics / log_model)"
        )
    result: dict[str, Any] = {"python": platform.python_version()}
    try:
        result["modelyard_version"] = importlib.metadata.version("modelyard")
    except importlib.metadata.PackageNotFoundError:
        result["modelyard_version"] = getattr(modelyard, "__version__", "unknown")

    # The MLflow worker ignores warnings too; printing them inside the timed loops costs time.
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Like the MLflow worker: each phase first runs once, untimed, on a throwaway project
        # (first-use lazy imports are not timed), then for real on a fresh one.
        if n_runs > 0:
            _modelyard_runs(project_cls, Path(tmp) / "warmup-runs", 1)
            result["runs"] = _modelyard_runs(project_cls, Path(tmp) / "runs", n_runs)
        if n_versions > 0:
            model, sample = train_model()
            _modelyard_versions(project_cls, Path(tmp) / "warmup-versions", 1, model, sample)
            result["versions"] = _modelyard_versions(
                project_cls, Path(tmp) / "versions", n_versions, model, sample
            )
    return result


def train_model() -> tuple[Any, Any]:
    """Same as _mlflow_worker.train_model: LogisticRegression on standardised breast_cancer."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return LogisticRegression(max_iter=1000).fit(X, y), X[:5]


def _modelyard_runs(project_cls: Any, path: Path, n: int) -> dict[str, Any]:
    path.mkdir(parents=True)
    project = project_cls.init(path)  # store creation: not timed
    t0 = time.perf_counter()
    for i in range(n):
        with project.start_run(model="bench", seed=0) as run:
            run.log_params(params_for(i))
            run.log_metrics(metrics_for(i))
    elapsed = time.perf_counter() - t0
    return {"n": n, "seconds": elapsed, "per_s": n / elapsed}


def _modelyard_versions(
    project_cls: Any, path: Path, n: int, model: Any, sample: Any
) -> dict[str, Any]:
    path.mkdir(parents=True)
    project = project_cls.init(path)
    t0 = time.perf_counter()
    for _ in range(n):
        with project.start_run(model="bench", seed=0) as run:
            run.log_model(model, sample_input=sample)
    elapsed = time.perf_counter() - t0
    return {"n": n, "seconds": elapsed, "per_s": n / elapsed}


# --------------------------------------------------------------------------- reporting


def best_of(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge repeated results: per phase keep the fastest, and list every sample's rate."""
    best = dict(samples[0])
    for key in best:
        entries = [s[key] for s in samples if isinstance(s.get(key), dict) and "per_s" in s[key]]
        if entries:
            best[key] = dict(max(entries, key=lambda e: float(e["per_s"])))
            best[key]["samples_per_s"] = [round(float(e["per_s"]), 2) for e in entries]
    best["repeats"] = len(samples)
    return best


def per_s(section: dict[str, Any] | None, key: str) -> float | None:
    if not section or key not in section:
        return None
    return float(section[key]["per_s"])


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    my = results.get("modelyard")
    ml = results.get("mlflow")
    my_runs, my_versions = per_s(my, "runs"), per_s(my, "versions")
    ml_batch, ml_fluent = per_s(ml, "batch"), per_s(ml, "fluent")
    ml_explicit, ml_inferred = per_s(ml, "models_explicit"), per_s(ml, "models_inferred")
    fastest_versions = max((v for v in (ml_explicit, ml_inferred) if v), default=None)
    ratios = {
        "runs_vs_log_batch": ratio(my_runs, ml_batch),
        "runs_vs_fluent": ratio(my_runs, ml_fluent),
        "versions_vs_fastest": ratio(my_versions, fastest_versions),
        "versions_vs_inferred_reqs": ratio(my_versions, ml_inferred),
    }
    # The goal is judged against MLflow's fastest path for each workload.
    goal = {
        "target": GOAL,
        "runs_met": None
        if ratios["runs_vs_log_batch"] is None
        else ratios["runs_vs_log_batch"] >= GOAL,
        "versions_met": None
        if ratios["versions_vs_fastest"] is None
        else ratios["versions_vs_fastest"] >= GOAL,
    }
    return {"ratios": ratios, "goal": goal}


def fmt(x: float | None, suffix: str = "") -> str:
    if x is None:
        return "-"
    digits = 1 if x >= 10 else 2 if x >= 0.1 else 3
    return f"{x:,.{digits}f}{suffix}"


def render_table(results: dict[str, Any]) -> str:
    my = results.get("modelyard")
    ml = results.get("mlflow")
    rows: list[tuple[str, str, str]] = []
    if "modelyard" in results or "modelyard_error" in results:
        label = f"modelyard {my.get('modelyard_version', '')}".strip() if my else "modelyard"
        if my:
            rows.append((label, fmt(per_s(my, "runs")), fmt(per_s(my, "versions"))))
        else:
            rows.append((label + " (FAILED, see above)", "n/a", "n/a"))
    if "mlflow" in results or "mlflow_error" in results:
        if ml:
            v = ml.get("mlflow_version", "")
            rows.append((f"mlflow {v} client.log_batch", fmt(per_s(ml, "batch")), "-"))
            rows.append((f"mlflow {v} fluent start_run+log_*", fmt(per_s(ml, "fluent")), "-"))
            if "models_explicit" in ml:
                rows.append(
                    (
                        f"mlflow {v} log_model (pip_requirements=)",
                        "-",
                        fmt(per_s(ml, "models_explicit")),
                    )
                )
            if "models_inferred" in ml:
                rows.append(
                    (
                        f"mlflow {v} log_model (inferred reqs)",
                        "-",
                        fmt(per_s(ml, "models_inferred")),
                    )
                )
        else:
            rows.append(("mlflow (FAILED, see above)", "n/a", "n/a"))
    summary = results.get("summary")
    if summary and my and ml:
        r = summary["ratios"]
        rows.append(
            (
                "ratio modelyard/mlflow (fastest)",
                fmt(r["runs_vs_log_batch"], "x"),
                fmt(r["versions_vs_fastest"], "x"),
            )
        )
        rows.append(
            (
                "ratio modelyard/mlflow (fluent)",
                fmt(r["runs_vs_fluent"], "x"),
                fmt(r["versions_vs_inferred_reqs"], "x"),
            )
        )

    first_ratio = next((i for i, r in enumerate(rows) if r[0].startswith("ratio")), None)
    rules = frozenset() if first_ratio is None else frozenset({first_ratio + 1})
    out = [table([["tool", "runs/s", "versions/s"], *map(list, rows)], {1, 2}, rules)]

    cfg = results["config"]
    out.append("")
    out.append(
        f"workload: {cfg['runs']} runs x ({N_PARAMS} params + {N_METRICS} metrics); "
        f"{cfg['versions']} model versions (LogisticRegression, breast_cancer); "
        f"python {platform.python_version()}, {os.cpu_count()} cores"
    )
    m = results["machine"]
    best = f"best of {cfg['repeat']} per phase" if cfg["repeat"] > 1 else "single pass"
    out.append(
        f"{best}; 1-min load average {m['loadavg_1m_start']} at start, "
        f"{m.get('loadavg_1m_end', '?')} at end (noisy if well above 0 on {os.cpu_count()} cores)"
    )
    if summary and my and ml:
        g = summary["goal"]

        def verdict(met: bool | None) -> str:
            return "n/a" if met is None else ("MET" if met else "NOT MET")

        out.append(
            f"goal: modelyard >= {GOAL:g}x MLflow (vs MLflow's fastest path) -- "
            f"runs: {verdict(g['runs_met'])}, versions: {verdict(g['versions_met'])}"
        )
    else:
        out.append(f"goal: modelyard >= {GOAL:g}x MLflow (needs both halves to judge)")
    if ml and "env" in ml:
        e = ml["env"]
        how = "built now" if e.get("created_now") else "reused"
        out.append(
            f"mlflow anchor venv: {how} ({e.get('variant')}, setup {e.get('setup_seconds')}s), "
            f"{MLFLOW_VENV.relative_to(BENCH_DIR.parent)}"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    set_log_name("registry-bench")
    ap = argparse.ArgumentParser(
        description="Compare modelyard vs MLflow metadata-logging throughput (SQLite)."
    )
    ap.add_argument("--runs", type=int, default=1000, help="runs to log (default 1000)")
    ap.add_argument("--versions", type=int, default=100, help="model versions (default 100)")
    ap.add_argument("--only", choices=["mlflow", "modelyard"], help="run one half only")
    ap.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    ap.add_argument(
        "--mlflow-reqs",
        choices=["explicit", "inferred", "both"],
        default="explicit",
        help="MLflow log_model: pass pip_requirements (fastest, default), let MLflow infer "
        "them (its default; spawns a subprocess per model), or measure both",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each half K times and keep each phase's best rate (for a noisy machine)",
    )
    ap.add_argument("--reinstall", action="store_true", help="rebuild the MLflow anchor venv")
    args = ap.parse_args(argv)
    if args.runs < 0 or args.versions < 0 or args.repeat < 1:
        ap.error("--runs and --versions must be >= 0, --repeat >= 1")

    results: dict[str, Any] = {
        "config": {
            "runs": args.runs,
            "versions": args.versions,
            "mlflow_reqs": args.mlflow_reqs,
            "repeat": args.repeat,
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_1m_start": round(os.getloadavg()[0], 2),
        },
    }
    ok = True
    if args.only in (None, "modelyard"):
        log(f"modelyard: {args.runs} runs, {args.versions} versions ...")
        try:
            results["modelyard"] = best_of(
                [bench_modelyard(args.runs, args.versions) for _ in range(args.repeat)]
            )
        except Exception as exc:
            ok = False
            results["modelyard_error"] = str(exc)
            log("modelyard half FAILED: " + str(exc))
            if not isinstance(exc, RuntimeError):
                traceback.print_exc(file=sys.stderr)
    if args.only in (None, "mlflow"):
        log(f"mlflow: {args.runs} runs, {args.versions} versions ...")
        try:
            samples = []
            for k in range(args.repeat):
                samples.append(
                    bench_mlflow(
                        args.runs, args.versions, args.mlflow_reqs, args.reinstall and k == 0
                    )
                )
            results["mlflow"] = best_of(samples)
        except Exception as exc:
            ok = False
            results["mlflow_error"] = str(exc)
            log("mlflow half FAILED: " + str(exc))
            if not isinstance(exc, RuntimeError):
                traceback.print_exc(file=sys.stderr)
    results["machine"]["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    results["summary"] = summarise(results)

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(render_table(results))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
