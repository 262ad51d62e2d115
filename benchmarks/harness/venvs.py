"""Anchor virtual environments: each anchor (MLflow, BentoML, Evidently, …) gets its own venv under
``benchmarks/.venvs/NAME``, built with ``uv venv`` + ``uv pip install`` on first use and reused
after (a marker file records what was installed); nothing is installed into modelyard's venv."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness import BenchError, log

BENCH_DIR = Path(__file__).resolve().parent.parent
OUR_VENV = BENCH_DIR.parent / ".venv"
VENVS = BENCH_DIR / ".venvs"
MARKER_NAME = "modelyard-bench.json"  # what was installed, and when (read by every benchmark)
INSTALL_TIMEOUT_S = 1800


def venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def clean_env(venv: Path | None = None) -> dict[str, str]:
    """Our environment minus anything pointing a child at our venv, a project or a tracker."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODELYARD_", "MLFLOW_", "BENTOML_"))
        and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX")
    }
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "DO_NOT_TRACK": "true",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "BENTOML_DO_NOT_TRACK": "true",
            "GIT_PYTHON_REFRESH": "quiet",
            # Every server is pinned to one core: the same single-threaded maths for all.
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
    )
    if venv is not None:
        # `mlflow models serve` runs `uvicorn` through the shell: it must be the venv's.
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
    return env


def sklearn_pin() -> str:
    return f"scikit-learn=={importlib.metadata.version('scikit-learn')}"


@dataclass
class VenvInfo:
    name: str
    path: str
    versions: dict[str, str]
    packages: list[str]
    created_now: bool
    setup_seconds: float | None


def ensure_venv(
    name: str, packages: list[str], modules: list[str], reinstall: bool = False
) -> VenvInfo:
    """Create (or reuse) benchmarks/.venvs/NAME holding PACKAGES; check MODULES import.
    ``reinstall``: delete an existing one first."""
    venv = VENVS / name
    py = venv_python(venv)
    marker = venv / MARKER_NAME
    if reinstall and venv.exists():
        log(f"removing {venv} (--reinstall)")
        shutil.rmtree(venv)
    dists = [modules[0], *(["scikit-learn"] if "sklearn" in modules else [])]
    probe = (
        "import importlib.metadata as m, json; "
        f"import {', '.join(modules)}; "
        f"print(json.dumps({{d: m.version(d) for d in {dists!r}}}))"
    )

    def versions() -> dict[str, str] | None:
        if not py.is_file():
            return None
        proc = subprocess.run(
            [str(py), "-c", probe], capture_output=True, text=True, env=clean_env(venv), check=False
        )
        if proc.returncode != 0:
            return None
        found: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
        return found

    have = versions() if marker.is_file() else None
    if have is not None:
        cached = json.loads(marker.read_text())
        log(f"reusing {venv} ({', '.join(f'{k} {v}' for k, v in have.items())})")
        setup = cached.get("setup_seconds")  # from when it was built
        return VenvInfo(name, str(venv), have, cached.get("packages", []), False, setup)

    uv = shutil.which("uv")
    if uv is None:
        raise BenchError(f"`uv` is not on PATH: it is needed to build {venv}")
    t0 = time.perf_counter()
    if not py.is_file():
        log(f"creating {venv} (uv venv)")
        proc = subprocess.run(
            [uv, "venv", "--no-project", "--python", str(venv_python(OUR_VENV)), str(venv)],
            capture_output=True,
            text=True,
            env=clean_env(),
            check=False,
        )
        if proc.returncode != 0:
            raise BenchError(f"uv venv {venv} failed:\n{proc.stderr.strip()[-2000:]}")
    log(f"installing {' '.join(packages)} into {venv} (first time: a few minutes)")
    proc = subprocess.run(
        [uv, "pip", "install", "--python", str(py), *packages],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"uv pip install into {venv} failed:\n{proc.stderr.strip()[-2000:]}")
    have = versions()
    if have is None:
        raise BenchError(f"{venv}: installed {packages} but `import {', '.join(modules)}` fails")
    seconds = round(time.perf_counter() - t0, 1)
    main_pkg = modules[0]
    marker.write_text(
        json.dumps(
            {
                "variant": main_pkg,
                "packages": packages,
                f"{main_pkg}_version": have.get(main_pkg, ""),
                "setup_seconds": seconds,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            indent=2,
        )
        + "\n"
    )
    log(f"built {venv} in {seconds}s ({', '.join(f'{k} {v}' for k, v in have.items())})")
    return VenvInfo(name, str(venv), have, packages, True, seconds)
