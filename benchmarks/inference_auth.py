"""What token auth costs an inference request, in process (no sockets, no HTTP parsing).

    .venv/bin/python benchmarks/inference_auth.py [--requests 2000] [--repeat 9]

One project, one endpoint (``bc``: StandardScaler + LogisticRegression on scikit-learn's
breast-cancer data), two serving apps built by ``serving.server.build_app`` from the same store:
``serving.auth: none`` and ``serving.auth: token``. Each app is started through its ASGI
lifespan, then driven with single-row KServe V1 ``:predict`` calls straight into the ASGI
callable (the token app with ``Authorization: Bearer <token>`` of a data-scientist). Runs
alternate between the two apps (the order flips each round); each is timed in this process's
CPU time (``time.process_time``, so other jobs on a shared machine disturb it less than wall
time), and the figures are the best and the median of ``--repeat`` runs of ``--requests``
requests, in µs per request, plus the check alone (``ServingAuth.require``). Timings are
printed, never asserted (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ENV = {"MODELYARD_USER": "bench"}


def _project(root: Path) -> tuple[list[float], str]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelyard.registry.registry import Registry
    from modelyard.security import tokens

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with Registry.init(root, env=ENV) as reg:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
        mv = reg.register_model(model, "bc", X.head())
        reg.transition(mv, "validated", reason="bench")
        reg.transition(mv, "approved", reason="bench", actor="reviewer")
        reg.deploy(mv.ref, "bc", reason="bench")
        secret = tokens.create(reg.store, "bench", "data-scientist", "admin").secret
    return [float(v) for v in X.iloc[0]], secret


def _app(root: Path, auth: str) -> Any:
    from modelyard.registry.registry import Registry
    from modelyard.serving.stack import ServeSpec, build_app

    text = (root / "modelyard.yaml").read_text().split("serving:")[0]
    (root / "modelyard.yaml").write_text(text + f"serving: {{auth: {auth}}}\n")
    reg = Registry.open(root, ENV)
    return build_app(reg, ServeSpec(project=str(root), prediction_log=False), close_registry=True)


async def _lifespan(app: Any, event: str) -> None:
    sent: list[dict[str, Any]] = []
    given: list[str] = []

    async def receive() -> dict[str, Any]:
        if given:  # one event per call of this helper; then wait to be cancelled
            await asyncio.Event().wait()
        given.append(event)
        return {"type": f"lifespan.{event}"}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    task = asyncio.create_task(app({"type": "lifespan"}, receive, send))
    while not sent:
        await asyncio.sleep(0.01)
    assert sent[0]["type"].endswith(".complete"), sent
    task.cancel()


async def _requests(app: Any, n: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> float:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/models/bc:predict",
        "headers": [(b"content-type", b"application/json"), *headers],
    }
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(msg: dict[str, Any]) -> None:
        if msg["type"] == "http.response.start":
            status.append(msg["status"])

    started = time.process_time()
    for _ in range(n):
        await app(dict(scope), receive, send)
    elapsed = time.process_time() - started
    assert set(status) == {200}, set(status)
    return elapsed / n * 1e6


async def main(n: int, repeat: int) -> None:
    from modelyard.core.governance import Permission

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "p"
        row, secret = _project(root)
        body = orjson.dumps({"instances": [row]})
        bearer = [(b"authorization", f"Bearer {secret}".encode())]
        apps = {"none": _app(root, "none"), "token": _app(root, "token")}
        for app in apps.values():
            await _lifespan(app, "startup")
        runs: dict[str, list[float]] = {"none": [], "token": []}
        for i in range(repeat):
            for mode in ("none", "token") if i % 2 == 0 else ("token", "none"):
                app, headers = apps[mode], bearer if mode == "token" else []
                await _requests(app, n // 10, body, headers)  # warm
                runs[mode].append(await _requests(app, n, body, headers))
        auth = apps["token"].auth
        scope = {"headers": [(b"content-type", b"application/json"), *bearer]}
        started = time.process_time()
        for _ in range(n * 10):
            auth.require(scope, Permission.PREDICT, "predict")
        check = (time.process_time() - started) / (n * 10) * 1e6
        for app in apps.values():
            await _lifespan(app, "shutdown")
    best = {m: min(v) for m, v in runs.items()}
    median = {m: statistics.median(v) for m, v in runs.items()}
    print(f"V1 :predict, one row, in process, CPU time, {repeat} runs x {n:,} requests")
    print("                        best     median  (us/request)")
    for mode in ("none", "token"):
        print(f"  serving.auth: {mode:<6} {best[mode]:7.1f}  {median[mode]:9.1f}")
    print(
        f"  difference          {best['token'] - best['none']:+7.1f}  "
        f"{median['token'] - median['none']:+9.1f}"
    )
    print(f"  the token check alone (ServingAuth.require): {check:.2f} us")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    asyncio.run(main(args.requests, args.repeat))
