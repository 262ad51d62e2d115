"""In-process cost of live monitoring and the prediction log, per request (issue 23).

One command, run with modelyard's own venv::

    .venv/bin/python benchmarks/monitoring_profile.py [--requests 3000] [--rows 1]
        [--models flights-logreg,flights-boosting,logreg,forest] [--profile cprofile|none]

For each model it builds the real serving app (``serving.stack.build_app``, the app
``modelyard serve`` runs) twice on one temporary project: with live monitoring (a
``LiveMonitor`` observer) and the prediction log (the defaults), and with neither. It drives the
ASGI app directly on one event loop (no sockets, no HTTP parser: only the app's own work) with
``--requests`` KServe V1 record bodies of ``--rows`` rows each, cycling over the model's request
rows, one at a time, alternating the two apps in interleaved rounds, and measures the process's
CPU time (``time.process_time_ns``: the event loop and the worker threads that flush) from the
first request to the end of the lifespan shutdown, which flushes whatever is still buffered.
So "monitoring CPU per request" includes the background counting and log writing. It then
times the pieces alone (``Telemetry.answered``, ``LiveMonitor.observe``, the prediction log's
``record`` and a flush of each) and with ``--profile cprofile`` prints where the monitoring
app's CPU went.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness import log, set_log_name
from serving_models import MODEL_TITLES, BenchModel, train_models
from serving_servers import Context, prepare_modelyard

FLUSH_OBS = 200  # default answers per flush in the piece timings (~1 s of traffic at c=1)


class AsgiDriver:
    """An ASGI app on the current event loop: lifespan, then POSTs."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._life: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async def receive() -> dict[str, Any]:
            return await self._life.get()

        async def send(msg: dict[str, Any]) -> None:
            await self._sent.put(msg)

        self._task = asyncio.get_running_loop().create_task(
            self.app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        )
        await self._life.put({"type": "lifespan.startup"})
        msg = await self._sent.get()
        if msg["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"startup failed: {msg}")

    async def stop(self) -> None:
        await self._life.put({"type": "lifespan.shutdown"})
        await self._sent.get()
        assert self._task is not None
        await self._task

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
        sent = False
        out: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(msg: dict[str, Any]) -> None:
            out.append(msg)

        await self.app(scope, receive, send)
        return int(out[0]["status"]), bytes(out[1]["body"])


def bodies(model: BenchModel, rows: int) -> list[bytes]:
    cols, data = model.data.columns, model.data.rows
    out = []
    for i in range(0, len(data) - rows + 1, rows):
        instances = [dict(zip(cols, r, strict=True)) for r in data[i : i + rows]]
        out.append(json.dumps({"instances": instances}).encode())
    return out


def build(project: Path, model: str, monitoring: bool) -> tuple[Any, Any]:
    from modelyard.monitoring.live import LiveMonitor
    from modelyard.registry.registry import Registry
    from modelyard.serving.stack import ServeSpec, build_app

    reg = Registry.open(project)
    spec = ServeSpec(project=str(project), ref=f"{model}@1", prediction_log=monitoring)
    if not monitoring:
        return build_app(reg, spec, close_registry=True), None
    monitor = LiveMonitor(reg)
    app = build_app(
        reg,
        spec,
        close_registry=True,
        observers=[monitor],
        on_startup=[monitor.start],
        on_shutdown=[monitor.stop],
    )
    return app, monitor


async def one_round(
    project: Path, model: str, monitoring: bool, payloads: list[bytes], n: int, warmup: int = 50
) -> float:
    """CPU µs per request of ``n`` requests through a fresh app, shutdown (flushes) included."""
    app, monitor = build(project, model, monitoring)
    driver = AsgiDriver(app)
    await driver.start()
    path = f"/v1/models/{model}:predict"
    for i in range(warmup):
        status, body = await driver.post(path, payloads[i % len(payloads)])
        if status != 200:
            raise RuntimeError(f"{model}: HTTP {status}: {body[:300]!r}")
    if monitor is not None:  # its first flush builds the version's baseline: once per server
        await monitor.flush()
    t0 = time.process_time_ns()
    for i in range(n):
        await driver.post(path, payloads[i % len(payloads)])
        if i % 16 == 15:
            await asyncio.sleep(0)  # let the background flush tasks run, as between requests
    await driver.stop()
    return (time.process_time_ns() - t0) / n / 1000


def time_pieces(
    project: Path,
    model: BenchModel,
    payloads: list[bytes],
    n: int,
    prof: cProfile.Profile | None,
    flush: int = FLUSH_OBS,
) -> dict[str, float]:
    """CPU µs of the monitoring pieces alone, on answers the real app produced."""
    import numpy as np

    from modelyard.monitoring.live import LiveMonitor
    from modelyard.registry.registry import Registry
    from modelyard.serving.metrics import ServingMetrics
    from modelyard.serving.predictor import Answer
    from modelyard.serving.predlog import PredictionLog
    from modelyard.serving.telemetry import Telemetry

    captured: list[Any] = []

    class Capture:
        def observe(self, endpoint: str, pid: str, answer: Any, *rest: Any) -> None:
            captured.append(answer)

    async def collect() -> None:
        from modelyard.serving.stack import ServeSpec, build_app

        reg = Registry.open(project)
        spec = ServeSpec(project=str(project), ref=f"{model.name}@1", prediction_log=False)
        app = build_app(reg, spec, close_registry=True, observers=[Capture()])
        driver = AsgiDriver(app)
        await driver.start()
        for i in range(min(n, 1000)):
            await driver.post(f"/v1/models/{model.name}:predict", payloads[i % len(payloads)])
        await driver.stop()

    asyncio.run(collect())
    answers: list[Answer] = [a for a in captured if a is not None]
    out: dict[str, float] = {}
    with Registry.open(project) as reg:
        from modelyard.core.endpoint_config import PredictionLogConfig
        from modelyard.serving.predictor import InferRequest

        config = PredictionLogConfig()
        with tempfile.TemporaryDirectory() as tmp:
            predlog = PredictionLog(Path(tmp))
            monitor = LiveMonitor(reg, flush_s=3600)
            telemetry = Telemetry(ServingMetrics(None), predlog, [monitor])
            reqs = [
                InferRequest(None, f"id{i}", None, started=time.perf_counter())  # type: ignore[arg-type]
                for i in range(len(answers))
            ]
            rounds = max(1, n // len(answers))

            def timed(label: str, fn: Callable[[], None], per: int) -> None:
                t0 = time.process_time_ns()
                if prof is not None:
                    prof.enable()
                fn()
                if prof is not None:
                    prof.disable()
                out[label] = (time.process_time_ns() - t0) / per / 1000

            def answered() -> None:
                for _ in range(rounds):
                    for req, a in zip(reqs, answers, strict=True):
                        telemetry.answered(model.name, config, req, a, "v1")

            total = rounds * len(answers)
            timed("Telemetry.answered (metrics + predlog.record + observe)", answered, total)
            batch, monitor._buffer = monitor._buffer, []
            monitor.process(batch[:10], True)  # builds the baseline (once per server)
            batch = batch[10:]
            chunks = [batch[i : i + flush] for i in range(0, len(batch), flush)]

            def process() -> None:
                for chunk in chunks:
                    monitor.process(chunk)
                monitor.process([], force=True)

            timed(f"LiveMonitor.process, flushes of {flush}", process, len(batch))
            entries, predlog.pending = predlog.pending, []
            logs = [entries[i : i + flush] for i in range(0, len(entries), flush)]

            def write() -> None:
                for chunk in logs:
                    predlog._write(chunk)

            timed(f"PredictionLog._write, flushes of {flush}", write, len(entries))
            lines = [predlog._line(e) for e in entries[:200]]
            out["log line bytes (mean)"] = float(np.mean([len(x) for x in lines]))
    return out


def profile_text(prof: cProfile.Profile) -> str:
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(30)
    return buf.getvalue()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=3000, help="requests per round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved on/off rounds")
    p.add_argument("--rows", type=int, default=1, help="rows per request")
    p.add_argument("--models", default="flights-logreg,flights-boosting,logreg,forest")
    p.add_argument("--profile", default="none", choices=("none", "cprofile"))
    p.add_argument(
        "--flush",
        type=int,
        default=FLUSH_OBS,
        help="answers per background flush in the piece timings (200: ~1 s at c=1; a few "
        "thousand: c=64)",
    )
    p.add_argument("--no-ab", action="store_true", help="only the piece timings")
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    bad = [m for m in args.models if m not in MODEL_TITLES]
    if bad:
        p.error(f"unknown model(s) {bad}; choose from {', '.join(MODEL_TITLES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    set_log_name("monitoring-profile")
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modelyard-monitoring-profile-") as tmp:
        workdir = Path(tmp)
        models = train_models(workdir, args.models)
        ctx = Context(workdir)
        prepare_modelyard(ctx, models)
        if ctx.modelyard_project is None:
            log(f"error: {ctx.modelyard_error}")
            return 1
        project = ctx.modelyard_project
        ab = "" if args.no_ab else f", {args.rounds} interleaved on/off rounds (medians)"
        print(
            f"\nin-process, {args.requests} requests x {args.rows} row(s){ab}; CPU µs per request"
        )
        for m in models:
            payloads = bodies(m, args.rows)
            on: list[float] = []
            off: list[float] = []
            for _ in range(0 if args.no_ab else args.rounds):
                off.append(asyncio.run(one_round(project, m.name, False, payloads, args.requests)))
                on.append(asyncio.run(one_round(project, m.name, True, payloads, args.requests)))
            print(f"\n== {m.name}: {m.title}")
            if on and off:
                ab_report(on, off, args.rows)
            prof = cProfile.Profile() if args.profile == "cprofile" else None
            pieces = time_pieces(project, m, payloads, args.requests, prof, args.flush)
            for label, us in pieces.items():
                print(f"  {label:55s} {us:8.1f}")
            if prof is not None:
                print(profile_text(prof))
    return 0


def ab_report(on: list[float], off: list[float], rows: int) -> None:
    a, b = statistics.median(on), statistics.median(off)
    for label, value, runs in (("on ", a, on), ("off", b, off)):
        rounded = [round(x) for x in runs]
        print(f"  monitoring + prediction log {label}: {value:8.1f} µs/request  {rounded}")
    print(
        f"  cost of monitoring             : {a - b:8.1f} µs/request, {(a - b) / rows:.1f} µs/row"
    )


if __name__ == "__main__":
    sys.exit(main())
