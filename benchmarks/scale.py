"""Scale: `modelyard serve` replicas on one PostgreSQL, and monitoring over 50M logged predictions.

One command::

    .venv/bin/python benchmarks/scale.py [--seconds 10] [--connections 64] [--rows 50000000]

1. **Replicas.** A project whose metadata is in PostgreSQL (127.0.0.1:5432, database ``test``, its
   own schema ``scale_bench``) and whose artifacts are one shared folder; the arrests model is
   deployed on endpoint ``arrests``. 1, 2 and 3 ``modelyard serve`` processes each on their own
   port; the load is split round-robin by running one wrk per replica at the same time (each with
   ``connections / N`` connections, so the total offered concurrency is constant), and the req/s of
   all wrk are summed. Two placements on this 2-core machine:

   * ``isolated``: every server pinned to core 0, every wrk to core 1 (load generator never steals
     server CPU; the servers share one core);
   * ``spread``: replica i pinned to core i mod 2, wrk unpinned (the servers get both cores, but
     share them with wrk).

2. **Monitoring at scale.** A month (30 days x 24 hourly partitions) of Parquet prediction logs in
   the layout the server writes (``endpoint=E/date=D/hour=H/part-*.parquet``, stable columns,
   arrests features as ``in_*``), generated once and cached under ``benchmarks/.cache/scale``.
   Then, in a child process under ``/usr/bin/time -v``, ``monitoring.outofcore`` builds the hourly
   window sketches of the whole month (DuckDB, ``memory_limit`` 1GB): time and peak RSS.

Needs wrk (``apt-get install wrk``) and PostgreSQL; part 2 alone runs with ``--skip-replicas``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import BenchError
from harness.launch import wait_ready
from harness.procs import free_port, pinned
from harness.wrk import Wrk, write_lua

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CACHE = BENCH / ".cache" / "scale"
PG = os.environ.get("MODELYARD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = "scale_bench"
FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
MODELYARD = str(Path(sys.executable).with_name("modelyard"))


def log(msg: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---- 1. replicas --------------------------------------------------------------------------
def make_project() -> tuple[Path, dict[str, str]]:
    import psycopg

    from modelyard.demo.data import arrests
    from modelyard.demo.training import fit
    from modelyard.gates.retrain import TrainingInputs
    from modelyard.registry.registry import Registry

    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
    proj = CACHE / "project"
    shutil.rmtree(proj, ignore_errors=True)
    proj.mkdir(parents=True)
    (proj / "modelyard.yaml").write_text(
        "name: scale\nidentity: os\n"
        "endpoints:\n  arrests:\n    prediction_log: {input_sample: 0.0}\n"
    )
    env = {
        "MODELYARD_USER": "bench",
        "MODELYARD_STORE_URL": f"{PG}?options=-csearch_path%3D{SCHEMA}",
        "MODELYARD_ARTIFACTS": str(CACHE / "artifacts"),
    }
    df = arrests()
    with Registry.init(proj, env=env) as reg:
        model = fit(TrainingInputs({"train": df}, {}, {}, 0))
        mv = reg.register_model(model, "arrests", df[FEATURES].head(20))
        reg.transition(mv, "validated", reason="bench")
        reg.transition(mv, "approved", reason="bench", actor="reviewer")
        reg.deploy(mv, "arrests", reason="bench")
    return proj, env


def start_replicas(
    proj: Path, env: dict[str, str], n: int, cores: list[str]
) -> list[tuple[subprocess.Popen[bytes], int, Any]]:
    out = []
    for i in range(n):
        port = free_port()
        logf = (CACHE / f"serve-{n}-{i}.log").open("wb")
        cmd = [MODELYARD, "serve", "--port", str(port), "-p", str(proj), "--log-level", "warning"]
        cmd = pinned(cores[i % len(cores)], cmd)
        p = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=logf, stderr=logf)
        out.append((p, port, logf))
    for p, port, _ in out:
        try:
            wait_ready(
                f"http://127.0.0.1:{port}/v2/health/ready",
                p,
                120,
                f"replica on port {port}",
                lambda: f"see {CACHE}",
            )
        except BenchError as exc:
            raise SystemExit(str(exc)) from exc
    return out


def stop(replicas: list[tuple[subprocess.Popen[bytes], int, Any]]) -> None:
    for p, _, _ in replicas:
        p.terminate()
    for p, _, f in replicas:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        f.close()


def drive(
    ports: list[int], connections: int, seconds: int, script: Path, core: str | None
) -> float:
    """One wrk per replica at the same time; the summed requests/s."""
    per = max(1, connections // len(ports))
    url = "http://127.0.0.1:{}/v1/models/arrests:predict"
    runs = [Wrk(url.format(port), script, per, seconds, None, core=core) for port in ports]
    total = 0.0
    for run in runs:
        try:
            r = run.result()
        except BenchError as exc:
            raise SystemExit(str(exc)) from exc
        if r.non_2xx:
            raise SystemExit(f"wrk saw {r.non_2xx} error responses")
        total += r.rps
    return total


def replicas_benchmark(seconds: int, connections: int) -> dict[str, dict[int, float]]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (or run with --skip-replicas)")
    from modelyard.demo.data import arrests

    proj, env = make_project()
    row = {
        k: (v.item() if hasattr(v, "item") else v) for k, v in arrests()[FEATURES].iloc[3].items()
    }
    script = CACHE / "post.lua"
    write_lua(script, "/v1/models/arrests:predict", [json.dumps({"instances": [row]}).encode()])
    results: dict[str, dict[int, float]] = {}
    for mode, server_cores, wrk_core in (("isolated", ["0"], "1"), ("spread", ["0", "1"], None)):
        results[mode] = {}
        for n in (1, 2, 3):
            replicas = start_replicas(proj, env, n, server_cores)
            try:
                ports = [port for _, port, _ in replicas]
                drive(ports, connections, 2, script, wrk_core)  # warm-up
                rps = drive(ports, connections, seconds, script, wrk_core)
            finally:
                stop(replicas)
            results[mode][n] = rps
            log(f"{mode}: {n} replica(s): {rps:,.0f} req/s")
    return results


# ---- 2. monitoring over a month of logs ---------------------------------------------------
def generate_logs(rows: int, folder: Path) -> Path:
    """A month of hourly Parquet partitions in the server's layout (cached)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from modelyard.demo.data import arrests

    done = folder / "DONE"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    df = arrests()[FEATURES].reset_index(drop=True)
    hours = 30 * 24
    per = rows // hours
    rng = np.random.default_rng(0)
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    t0 = time.perf_counter()
    for h in range(hours):
        at0 = start + dt.timedelta(hours=h)
        n = per if h < hours - 1 else rows - per * (hours - 1)
        pick = rng.integers(0, len(df), n)
        part = df.iloc[pick]
        offs = np.sort(rng.integers(0, 3_600_000_000, n))
        at = pa.array(int(at0.timestamp() * 1e6) + offs, type=pa.timestamp("us", tz="UTC"))
        score = pa.array(np.round(rng.random(n), 6))
        ids = pc.binary_join_element_wise(
            pa.array(np.full(n, f"h{h}-")), pc.cast(pa.array(np.arange(n)), pa.string()), ""
        )
        output = pc.binary_join_element_wise(
            pa.array(np.full(n, '{"predict":[')),
            pc.cast(score, pa.string()),
            pa.array(np.full(n, "]}")),
            "",
        )
        cols: dict[str, Any] = {
            "id": ids,
            "row": pa.array(np.zeros(n, dtype=np.int32)),
            "at": at,
            "endpoint": pa.array(np.full(n, "arrests")),
            "version": pa.array(np.full(n, "arrests@1")),
            "version_id": pa.array(np.ones(n, dtype=np.int64)),
            "role": pa.array(np.full(n, "production")),
            "latency_ms": pa.array(np.round(rng.gamma(2.0, 1.5, n), 3)),
            "fallback_reason": pa.nulls(n, pa.string()),
            "output": output,
            "score": score,
            "label": pa.nulls(n, pa.string()),
            "sampled": pa.array(np.ones(n, dtype=bool)),
        }
        for name in FEATURES:
            values = part[name].to_numpy()
            if values.dtype.kind in "iuf":
                cols[f"in_{name}"] = pa.array(
                    values.astype(np.int64 if values.dtype.kind in "iu" else float)
                )
            else:
                cols[f"in_{name}"] = pa.array(values.astype(str))
        d = at0.strftime("%Y-%m-%d")
        target = folder / "endpoint=arrests" / f"date={d}" / f"hour={at0:%H}"
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols), target / "part-0-0.parquet", compression="zstd")
        if h % 72 == 71:
            log(f"generated {h + 1}/{hours} hourly partitions ({time.perf_counter() - t0:.0f} s)")
    done.write_text(str(rows))
    return folder


def scan_child(folder: str, memory_limit: str) -> None:
    """Run in a child under /usr/bin/time -v: build the month's hourly windows."""
    import numpy as np

    from modelyard.demo.data import arrests
    from modelyard.monitoring.baseline import Baseline
    from modelyard.monitoring.outofcore import backfill_windows

    df = arrests()[FEATURES]
    base = Baseline.from_frame(
        df,
        categorical={"colour", "sex", "employed", "citizen"},
        prediction=np.random.default_rng(1).random(len(df)),
    )
    t0 = time.perf_counter()
    windows = backfill_windows(
        folder,
        "arrests",
        lambda vid, ref: base,
        dt.date(2026, 10, 1),
        dt.date(2026, 11, 1),
        3600.0,
        memory_limit=memory_limit,
    )
    elapsed = time.perf_counter() - t0
    rows = sum(w.sketch.requests for w in windows)
    print(json.dumps({"seconds": elapsed, "windows": len(windows), "rows": rows}))


def monitoring_benchmark(rows: int, memory_limit: str) -> dict[str, Any]:
    folder = generate_logs(rows, CACHE / f"log-{rows}")
    size = sum(f.stat().st_size for f in folder.rglob("*.parquet"))
    cmd = ["/usr/bin/time", "-v", sys.executable, __file__, "--scan-child", str(folder)]
    cmd += ["--memory-limit", memory_limit]
    done = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    result["peak_rss_mb"] = int(rss.group(1)) / 1024 if rss else None
    result["parquet_gb"] = size / 1e9
    log(
        f"monitoring: {result['rows']:,} predictions, {result['windows']} hourly windows in "
        f"{result['seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB "
        f"({result['parquet_gb']:.2f} GB of Parquet)"
    )
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration per measurement")
    ap.add_argument("--connections", type=int, default=64, help="total wrk connections")
    ap.add_argument("--rows", type=int, default=50_000_000, help="logged predictions to scan")
    ap.add_argument("--memory-limit", default="1GB", help="DuckDB memory bound")
    ap.add_argument("--skip-replicas", action="store_true")
    ap.add_argument("--skip-monitoring", action="store_true")
    ap.add_argument("--scan-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scan_child:
        scan_child(args.scan_child, args.memory_limit)
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}
    if not args.skip_replicas:
        rep = replicas_benchmark(args.seconds, args.connections)
        summary["replicas"] = rep
        print("\nreplicas (req/s, total offered connections constant):")
        for mode, by_n in rep.items():
            ratio = "  ".join(f"{n}: {v:,.0f} ({v / by_n[1]:.2f}x)" for n, v in by_n.items())
            print(f"  {mode:9s} {ratio}")
    if not args.skip_monitoring:
        summary["monitoring"] = monitoring_benchmark(args.rows, args.memory_limit)
    (CACHE / "results.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
