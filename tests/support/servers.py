"""Starting real servers in tests: a free port on 127.0.0.1, and waiting until one is ready."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(
    base: str,
    proc: subprocess.Popen[Any],
    client: httpx.Client | None = None,
    timeout_s: float = 120.0,
    log: Any = None,
) -> None:
    """Poll ``/v2/health/ready`` until 200; fail at once (with the log tail) if the server dies."""
    get = client.get if client is not None else httpx.get
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if get(f"{base}/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
        assert proc.poll() is None, f"the server exited: {tail}"
        assert time.monotonic() < deadline, f"the server was not ready in {timeout_s:.0f} s"
        time.sleep(0.3)
