"""Starting real servers in tests: a free port on 127.0.0.1, waiting until one is ready, and
`served` which does both for a `modelyard serve` (or `modelyard ui`) process."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
MODELYARD = str(Path(sys.executable).with_name("modelyard"))


_RNG = random.Random()


def free_port() -> int:
    """A port free on 127.0.0.1 now, drawn below the kernel's ephemeral range (32768+), where
    outgoing connections take their local ports: between this check and the server's bind,
    only another test picking the same number at random can take it (``served`` retries)."""
    for _ in range(200):
        port = _RNG.randrange(20_000, 32_000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # pragma: no cover - that range is full
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lost_port(log: Path) -> bool:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "address already in use" in text


def wait_ready(
    base: str,
    proc: subprocess.Popen[Any],
    client: httpx.Client | None = None,
    timeout_s: float = 120.0,
    log: Any = None,
    path: str = "/v2/health/ready",
) -> None:
    """Poll ``path`` until 200; fail at once (with the log tail) if the server dies."""
    get = client.get if client is not None else httpx.get
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if get(f"{base}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
        assert proc.poll() is None, f"the server exited: {tail}"
        assert time.monotonic() < deadline, f"the server was not ready in {timeout_s:.0f} s"
        time.sleep(0.3)


@contextmanager
def served(
    project: Path,
    *args: str,
    log: Path,
    env: Mapping[str, str | None] | None = None,
    command: str = "serve",
    ready: str = "/v2/health/ready",
    stop_timeout_s: float = 30.0,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``modelyard <command> --port <free> -p <project> *args`` until the block ends.

    The child gets this environment plus ``PYTHONPATH`` (so it can import ``tests.support``) and
    ``env`` (a ``None`` value removes a variable); its output goes to the FILE ``log`` (a full
    pipe would block the server). Yields ``(base_url, process)`` once ``ready`` answers 200;
    at the end the process is terminated (a clean stop flushes its buffers) and waited for.
    """
    child = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key, value in (env or {}).items():
        if value is None:
            child.pop(key, None)
        else:
            child[key] = value
    for attempt in range(3):  # another process may take the port before the server binds it
        port = free_port()
        cmd = [MODELYARD, command, "--port", str(port), "-p", str(project), *args]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, env=child, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, proc, log=log, path=ready)
        except AssertionError:
            proc.kill()
            proc.wait()
            if attempt < 2 and _lost_port(log):
                continue
            raise
        break
    try:
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=stop_timeout_s)


class Children:
    """The child processes a fixture starts, each with its output to its own log FILE (this
    environment plus ``PYTHONPATH`` and ``env``); ``stop`` terminates them all, then waits for
    each, killing any that outlives ``timeout_s``."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def start(
        self, cmd: list[str], log: Path, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        out = log.open("wb")
        self._logs.append(out)
        proc = subprocess.Popen(
            cmd, env={**self.env, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        return proc

    def stop(self, timeout_s: float = 15.0) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for out in self._logs:
            out.close()
