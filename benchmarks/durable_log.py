"""What ``prediction_log.durability: acknowledged`` costs: requests/s and p50/p99 of a real
``modelyard serve`` with the prediction log buffered (the default) vs acknowledged (each answer
written and fsync'd before it is sent, group-committed across concurrent requests).

One command, run with modelyard's own venv::

    .venv/bin/python benchmarks/durable_log.py [--duration 10] [--concurrency 1,16]

For each mode it writes a project (SQLite + artifact folder in a temporary directory) whose
endpoint ``bc`` serves a StandardScaler + LogisticRegression pipeline of scikit-learn's bundled
breast-cancer data, with ``prediction_log: {durability: MODE}`` (input sample 10 %, the
default), starts ``modelyard serve`` on a free port (pinned to core 0 with ``taskset`` when
there are two cores or more), warms it up for 2 s and drives single-row KServe V1 requests
at each concurrency: with wrk (``wrk -t1 -cN --latency``, pinned to core 1) when it is
installed, else with a thread-per-connection httpx loop (slower: the figures are then mostly the
client's). It prints requests/s, p50, p99, errors, the log lines written during each timed
run in acknowledged mode (at least one per answer, else the mode lost something), and the
acknowledged/buffered ratios. The log lives on the temporary
directory's file system: fsync cost depends on it (tmpfs makes fsync free; a laptop SSD costs
~0.1-1 ms, a network disk more).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from harness import BenchError
from harness.launch import wait_ready
from harness.procs import LOAD_CORE, SERVER_CORE, can_pin, free_port, pinned
from harness.wrk import Wrk, write_lua

MODELYARD = str(Path(sys.executable).with_name("modelyard"))


def wrk(url: str, body: str, concurrency: int, seconds: float, work: Path) -> dict[str, Any]:
    script = work / "post.lua"
    write_lua(script, "/v1/models/bc:predict", [body.encode()])
    core = LOAD_CORE if can_pin() else None
    r = Wrk(url, script, concurrency, seconds, None, core=core, timeout=None).result()
    return {k: getattr(r, k) for k in ("requests", "rps", "p50_ms", "p99_ms", "errors")}


def project(root: Path, durability: str) -> list[float]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelyard.registry.registry import Registry

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with Registry.init(root, env={"MODELYARD_USER": "bench"}, identity="os") as reg:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
        mv = reg.register_model(model, "bc", X.head())
        reg.transition(mv, "validated", reason="bench")
        reg.transition(mv, "approved", reason="bench", actor="reviewer")
        reg.deploy(mv.ref, "bc", reason="bench")
    with (root / "modelyard.yaml").open("a") as fh:
        fh.write(f"endpoints:\n  bc:\n    prediction_log: {{durability: {durability}}}\n")
    return [float(v) for v in X.iloc[0]]


def httpx_load(url: str, body: str, concurrency: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = [0]
    stop = time.perf_counter() + seconds
    lock = threading.Lock()

    def client() -> None:
        mine: list[float] = []
        with httpx.Client(timeout=10) as c:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = c.post(url, content=body, headers={"content-type": "application/json"})
                mine.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": errors[0],
    }


def run_mode(durability: str, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    root = work / durability
    row = project(root, durability)
    body = json.dumps({"instances": [row]})
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/models/bc:predict"
    log = (work / f"{durability}.log").open("wb")
    cmd = [MODELYARD, "serve", "--port", str(port), "-p", str(root), "--log-level", "warning"]
    server = subprocess.Popen(
        pinned(SERVER_CORE, cmd) if can_pin() else cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    results = []
    try:
        try:
            wait_ready(
                f"http://127.0.0.1:{port}/v2/health/ready",
                server,
                120,
                "modelyard serve",
                lambda: f"see {log.name}",
            )
        except BenchError as exc:
            raise SystemExit(f"modelyard serve did not start: {exc}") from exc
        use_wrk = shutil.which("wrk") is not None and not args.httpx

        def load(c: int, seconds: float) -> dict[str, Any]:
            if use_wrk:
                return wrk(url, body, c, seconds, work)
            return httpx_load(url, body, c, seconds)

        for c in args.concurrency:
            load(c, 2.0)  # warm-up at the same concurrency, untimed
            before = _log_lines(root)
            r: dict[str, Any] = load(c, args.duration)
            r |= {
                "mode": durability,
                "concurrency": c,
                "client": "wrk" if use_wrk else "httpx",
                "logged": _log_lines(root) - before if durability == "acknowledged" else None,
            }
            results.append(r)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    return results


def sync_latency_ms(folder: Path, n: int = 200) -> float:
    """Median time of one small append + fdatasync on ``folder``'s file system: the floor of
    an acknowledged request's extra latency at concurrency 1."""
    path = folder / "sync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    times = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 200 + b"\n")
            getattr(os, "fdatasync", os.fsync)(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times) * 1000


def _log_lines(root: Path) -> int:
    return sum(
        f.read_bytes().count(b"\n") for f in (root / ".modelyard" / "predictions").rglob("*.jsonl")
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per point")
    ap.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16])
    ap.add_argument("--httpx", action="store_true", help="use the httpx loop even with wrk")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--dir", help="where the projects (and so the logs) live; default $TMPDIR")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="modelyard-durable-", dir=args.dir))
    try:
        sync_ms = sync_latency_ms(work)
        rows = [r for mode in ("buffered", "acknowledged") for r in run_mode(mode, args, work)]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"{'mode':<13} {'c':>3} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'answered':>9} {'logged':>9}"
    )
    for r in rows:
        logged = "-" if r["logged"] is None else f"{r['logged']:,}"
        print(
            f"{r['mode']:<13} {r['concurrency']:>3} {r['rps']:>9,.0f} {r['p50_ms']:>8.2f} "
            f"{r['p99_ms']:>8.2f} {r['errors']:>7} {r['requests']:>9,} {logged:>9}"
        )
    print(f"one append + fdatasync on {work.parent}: {sync_ms:.2f} ms (median of 200)")
    for c in args.concurrency:
        off = next(r for r in rows if r["mode"] == "buffered" and r["concurrency"] == c)
        on = next(r for r in rows if r["mode"] == "acknowledged" and r["concurrency"] == c)
        print(
            f"c={c}: acknowledged/buffered req/s {on['rps'] / off['rps']:.2f}x, "
            f"p50 {on['p50_ms'] - off['p50_ms']:+.2f} ms, p99 {on['p99_ms'] - off['p99_ms']:+.2f} "
            f"ms ({rows[0]['client']}; log on {work.parent})"
        )


if __name__ == "__main__":
    main()
