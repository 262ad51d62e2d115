"""Batch drift report: modelyard vs Evidently's DataDriftPreset, in one run, on the same frames.

    .venv/bin/python benchmarks/drift.py [--rows 100000 1000000] [--skip-evidently] [--json]

Data: reference and current frames of N rows x 20 columns, drawn independently from one
generator: 15 numeric columns of varied shapes (normal, lognormal, gamma, uniform, bimodal,
Student-t, Poisson counts, beta, …; one with 1 % missing values on both sides) and 5 categorical
ones with 5-50 levels (Zipf-like frequencies). Injected into the current frame only:

* ``x0`` location shift (+0.3 reference stds)      * ``x1`` scale x1.5 (lognormal)
* ``x2`` missingness ramp 0 → 40 % over the rows   * ``k0`` a new category in 3 % of rows
* ``k1`` frequency shift (Zipf order reversed)

Every other column is clean. Both frames are written to Parquet; each tool runs in its own child
process which reads them (not timed) and times only the report, as wall time and as the process's
CPU time (the fairer figure on a shared machine; modelyard's CPU time includes both cores'
work); peak memory is the child's ``ru_maxrss`` (from ``os.wait4``). Evidently (latest
release, with ``pandas<3``) is installed by this script into ``benchmarks/.venvs/evidently``
with ``uv venv`` + ``uv pip install`` on first use, never into our venv. modelyard modes:

* ``raw``      — ``compare_frames(ref, cur)``: both samples raw (the like-for-like comparison);
* ``profile``  — the reference ``Baseline`` built once (at release time; its build time is shown
  separately), then only the current frame is counted and compared (``update_batch`` +
  ``compare_baseline``).

The multivariate domain-classifier test is off in both modes (Evidently's preset has none).
Goals at 1M rows: raw ≥ 30x faster than Evidently, profile ≥ 200x, peak memory ≤ 40 % of
Evidently's, every injected drift found, no clean column flagged.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness import BenchError, log, set_log_name
from harness.venvs import VENVS, ensure_venv, venv_python

BENCH_DIR = Path(__file__).resolve().parent
EVIDENTLY_PY = venv_python(VENVS / "evidently")
EVIDENTLY_WORKER = BENCH_DIR / "_evidently_worker.py"
INJECTED = {"x0": "location", "x1": "scale", "x2": "missingness ramp", "k0": "new category",
            "k1": "frequency"}  # fmt: skip
GOALS = {"raw": 30.0, "profile": 200.0, "memory_share": 0.40}


# ---- data ------------------------------------------------------------------------------
def _numeric(rng: np.random.Generator, i: int, n: int) -> np.ndarray:
    shapes = [
        lambda: rng.normal(10, 2, n),
        lambda: rng.lognormal(0, 0.8, n),
        lambda: rng.gamma(2.0, 3.0, n),
        lambda: rng.uniform(-5, 5, n),
        lambda: np.where(rng.random(n) < 0.35, rng.normal(-4, 1, n), rng.normal(3, 1.5, n)),
        lambda: rng.standard_t(3, n),
        lambda: rng.poisson(4, n).astype(float),
        lambda: rng.beta(2, 5, n),
        lambda: rng.exponential(50, n),
        lambda: rng.normal(0, 1, n) ** 2,
        lambda: rng.weibull(1.5, n),
        lambda: rng.laplace(0, 2, n),
        lambda: rng.integers(0, 100, n).astype(float),
        lambda: rng.pareto(3, n),
        lambda: rng.logistic(5, 1, n),
    ]
    return shapes[i]()


LEVELS = (5, 10, 20, 35, 50)


def _zipf(levels: int) -> np.ndarray:
    w = 1 / np.arange(1, levels + 1)
    return w / w.sum()


def make_frame(n: int, seed: int, drift: bool) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i in range(15):
        cols[f"x{i}"] = _numeric(rng, i, n)
    x5 = cols["x5"]
    x5[rng.random(n) < 0.01] = np.nan  # clean column with missing values on both sides
    for j, levels in enumerate(LEVELS):
        cats = np.array([f"k{j}_{v:02d}" for v in range(levels)], dtype=object)
        p = _zipf(levels)
        if drift and j == 1:
            p = p[::-1]
        cols[f"k{j}"] = cats[rng.choice(levels, size=n, p=p)]
    if drift:
        ref_std = 2.0
        cols["x0"] = cols["x0"] + 0.3 * ref_std
        cols["x1"] = cols["x1"] * 1.5
        ramp = np.linspace(0.0, 0.4, n)
        x2 = cols["x2"]
        x2[rng.random(n) < ramp] = np.nan
        k0 = cols["k0"]
        k0[rng.random(n) < 0.03] = "k0_NEW"
    return pd.DataFrame(cols)


# ---- workers (run in child processes) --------------------------------------------------
def worker(mode: str, ref_path: str, cur_path: str) -> None:
    import pandas as pd

    from modelyard.monitoring.baseline import Baseline
    from modelyard.monitoring.drift import DriftSettings, compare_baseline, compare_frames

    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    settings = DriftSettings(multivariate=False)
    # warm the lazy imports (scipy.stats, …) on a tiny slice so they are not timed
    compare_frames(ref.head(200), cur.head(200), settings)
    out: dict[str, Any] = {}
    if mode == "raw":
        t0, c0 = time.perf_counter(), time.process_time()
        result = compare_frames(ref, cur, settings)
        out["seconds"], out["cpu_seconds"] = time.perf_counter() - t0, time.process_time() - c0
    else:
        t0 = time.perf_counter()
        base = Baseline.from_frame(ref)
        out["build_seconds"] = time.perf_counter() - t0
        blob = json.dumps(base.to_dict())
        out["baseline_bytes"] = len(blob)
        base = Baseline.from_dict(json.loads(blob))  # as loaded at serving time
        del ref
        t0, c0 = time.perf_counter(), time.process_time()
        window = base.new_window()
        window.update_batch(cur, n_jobs=0)
        result = compare_baseline(base, window, settings)
        out["seconds"], out["cpu_seconds"] = time.perf_counter() - t0, time.process_time() - c0
    out["flagged"] = sorted(result.drifted_features)
    out["signals"] = {
        f.name: [s.signal for s in f.signals if s.drifted] for f in result.features if f.drifted
    }
    print(json.dumps(out))


def generate(n: int, ref_path: str, cur_path: str) -> None:
    """Write both frames (run in a child so the parent stays small: a forked child's
    ``ru_maxrss`` starts at its parent's resident size)."""
    make_frame(n, 1, drift=False).to_parquet(ref_path)
    make_frame(n, 2, drift=True).to_parquet(cur_path)


def run_child(cmd: list[str]) -> dict[str, Any]:
    """Run a worker; its JSON line plus peak RSS (MB) from the kernel's rusage of that child."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stdout is not None and proc.stderr is not None
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[1:3]} failed ({proc.returncode}):\n{stderr[-3000:]}")
    data: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    data["peak_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return data


def evaluate(flagged: list[str], columns: list[str]) -> dict[str, Any]:
    missed = sorted(c for c in INJECTED if c not in flagged)
    false = sorted(c for c in flagged if c not in INJECTED and c in columns)
    return {"missed": missed, "false_alarms": false}


def main() -> None:
    set_log_name("drift-bench")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--skip-evidently", action="store_true")
    ap.add_argument("--reinstall", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", nargs=3, metavar=("MODE", "REF", "CUR"), help=argparse.SUPPRESS)
    ap.add_argument("--generate", nargs=3, metavar=("N", "REF", "CUR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    if args.generate:
        generate(int(args.generate[0]), args.generate[1], args.generate[2])
        return
    if not args.skip_evidently:
        try:
            ensure_venv(
                "evidently",
                ["evidently", "pandas<3", "pyarrow"],
                ["evidently", "pandas", "pyarrow"],
                reinstall=args.reinstall,
            )
        except BenchError as exc:
            raise SystemExit(str(exc)) from exc
    report: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        for n in args.rows:
            log(f"generating {n:,} rows x 20 columns (reference and current)")
            rp, cp = Path(tmp) / f"ref-{n}.parquet", Path(tmp) / f"cur-{n}.parquet"
            me = [sys.executable, str(Path(__file__).resolve())]
            subprocess.run([*me, "--generate", str(n), str(rp), str(cp)], check=True)
            columns = [f"x{i}" for i in range(15)] + [f"k{j}" for j in range(len(LEVELS))]
            runs: dict[str, dict[str, Any]] = {}
            for mode in ("raw", "profile"):
                log(f"modelyard {mode} at {n:,} rows")
                runs[f"modelyard-{mode}"] = run_child([*me, "--worker", mode, str(rp), str(cp)])
            if not args.skip_evidently:
                log(f"evidently DataDriftPreset at {n:,} rows (slow)")
                runs["evidently"] = run_child(
                    [str(EVIDENTLY_PY), str(EVIDENTLY_WORKER), str(rp), str(cp)]
                )
            for r in runs.values():
                r.update(evaluate(r["flagged"], columns))
            report.append({"rows": n, "runs": runs})
            _print_size(n, runs)
    if args.json:
        print(json.dumps(report, indent=2))


def _print_size(n: int, runs: dict[str, dict[str, Any]]) -> None:
    ev = runs.get("evidently")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n(machine: {os.cpu_count()} cores, load average {load})", end="")
    print(f"\n=== {n:,} rows x 20 columns; injected: " +
          ", ".join(f"{k} ({v})" for k, v in INJECTED.items()))  # fmt: skip
    head = (
        f"{'tool / mode':<20}{'wall s':>9}{'cpu s':>9}{'peak MB':>9}{'speed-up':>10}"
        f"{'cpu ratio':>10}{'mem %':>7}  flagged"
    )
    print(head)
    for name, r in runs.items():
        other = ev is not None and name != "evidently"
        speed = f"{ev['seconds'] / r['seconds']:.0f}x" if other else "-"
        cpu_ratio = f"{ev['cpu_seconds'] / r['cpu_seconds']:.0f}x" if other else "-"
        mem = f"{100 * r['peak_mb'] / ev['peak_mb']:.0f}" if other else "-"
        flagged = ", ".join(r["flagged"]) or "none"
        print(
            f"{name:<20}{r['seconds']:>9.3f}{r['cpu_seconds']:>9.3f}{r['peak_mb']:>9.0f}"
            f"{speed:>10}{cpu_ratio:>10}{mem:>7}  {flagged}"
        )
        extra = []
        if r["missed"]:
            extra.append("MISSED " + ", ".join(r["missed"]))
        if r["false_alarms"]:
            extra.append("FALSE ALARMS " + ", ".join(r["false_alarms"]))
        if "build_seconds" in r:
            extra.append(
                f"baseline built once in {r['build_seconds']:.2f} s "
                f"({r['baseline_bytes'] / 1024:.0f} KiB JSON)"
            )
        if extra:
            print(f"{'':<20}" + "; ".join(extra))
    if ev:
        raw, prof = runs["modelyard-raw"], runs["modelyard-profile"]
        checks = [
            ("raw ≥ 30x Evidently", ev["seconds"] / raw["seconds"] >= GOALS["raw"]),
            ("profile ≥ 200x Evidently", ev["seconds"] / prof["seconds"] >= GOALS["profile"]),
            ("peak memory ≤ 40 %", raw["peak_mb"] <= GOALS["memory_share"] * ev["peak_mb"]),
            ("every injected drift found", not raw["missed"] and not prof["missed"]),
            ("no clean column flagged", not raw["false_alarms"] and not prof["false_alarms"]),
        ]
        print("goals: " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks))


if __name__ == "__main__":
    main()
