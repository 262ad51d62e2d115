"""The gates' load check, measured through the real inference server.

Staging mirrors production: the version is served by ``modelyard serve MODEL@VERSION`` in its own
process (same artifact, same deserialisation, same server), driven over a real socket with
single-row KServe V1 requests at the policy's concurrency. Peak memory is the server process's
high-water mark (VmHWM).

When the project file says ``serving.auth: token`` the staging server checks tokens as
production does, so the check mints a data-scientist token for the run (``gate-load-…``,
expiring in an hour, revoked when the run ends; both audited) and sends it on every request.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelyard.core.errors import ModelyardError
from modelyard.gates.checks.load import LoadRequest, LoadResult

READY_TIMEOUT_S = 180.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@contextmanager
def _run_token(extra: dict[str, Any], env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The headers the load requests carry: a short-lived token when the project needs one."""
    from modelyard.core.project import load_project

    project = extra.get("project")
    if not project or load_project(Path(project)).serving.inference_open:
        yield {}
        return
    import secrets

    from modelyard.registry import access
    from modelyard.registry.registry import Registry

    name = f"gate-load-{secrets.token_hex(4)}"
    with Registry.open(Path(project), env) as reg:
        actor = reg.settings.user
        minted = access.create_token(reg, name, "data-scientist", actor, expires_days=1 / 24)
    try:
        yield {"Authorization": f"Bearer {minted.secret}"}
    finally:
        with Registry.open(Path(project), env) as reg:
            access.revoke_token(reg, name, actor, "the gate's load check ended")


async def _drive(
    url: str,
    rows: list[dict[str, Any]],
    concurrency: int,
    total: int,
    headers: dict[str, str] | None = None,
) -> tuple[list[float], int, float]:
    import httpx

    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0, headers=headers) as client:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                body = {"instances": [rows[i % len(rows)]]}
                t0 = time.perf_counter()
                try:
                    r = await client.post(url, json=body)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


def run_load(req: LoadRequest) -> LoadResult:
    extra = req.extra
    if not req.model_ref or not req.rows:
        raise ModelyardError("the load check needs a model version and sample rows")
    port = _free_port()
    env = {**os.environ}
    for key, name in (("store_url", "MODELYARD_STORE_URL"), ("artifacts", "MODELYARD_ARTIFACTS")):
        if extra.get(key):
            env[name] = str(extra[key])
    exe = str(Path(sys.executable).with_name("modelyard"))
    cmd = [
        exe,
        "serve",
        req.model_ref,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    if extra.get("project"):
        cmd += ["--project", str(extra["project"])]
    with _run_token(extra, env) as headers:
        # the server's log goes to a file, never a pipe: a full pipe would block the server
        log = tempfile.TemporaryFile()  # noqa: SIM115 - closed after the server stops, below
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
        )
        try:
            _wait_ready(proc, port, log)
            name = str(extra.get("model") or req.model_ref.split("@")[0])
            url = f"http://127.0.0.1:{port}/v1/models/{name}:predict"
            # warm up, so one-off costs (first batch, caches) are not measured
            asyncio.run(_drive(url, req.rows, 1, min(20, req.requests), headers))
            latencies, errors, elapsed = asyncio.run(
                _drive(url, req.rows, req.concurrency, req.requests, headers)
            )
            peak = _peak_rss_mb(proc.pid)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
    lat = sorted(latencies)

    def q(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))]

    return LoadResult(
        p50_ms=q(0.50),
        p99_ms=q(0.99),
        throughput_rps=len(lat) / elapsed,
        peak_memory_mb=peak,
        errors=errors,
    )


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Any) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            err = log.read().decode(errors="replace")[-2000:]
            raise ModelyardError(f"the server for the load check exited: {err}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise ModelyardError(f"the server for the load check was not ready in {READY_TIMEOUT_S:.0f} s")
