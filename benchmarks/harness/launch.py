"""Server processes: started in their own process group, pinned to a core, logging to a file;
waited for until a health URL answers; stopped with everything they started, Ctrl-C included."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from harness import BenchError, log
from harness.procs import SERVER_CORE, alive, pinned, process_tree


def wait_ready(
    url: str,
    proc: subprocess.Popen[bytes],
    timeout: float,
    name: str,
    log_tail: Callable[[], str] = lambda: "(no log)",
) -> float:
    """Poll ``url`` until it answers 2xx; the seconds that took. Raises :class:`BenchError` when
    ``proc`` exits first or ``timeout`` passes, with ``log_tail()`` in the message."""
    t0 = time.perf_counter()
    last = ""
    while time.perf_counter() - t0 < timeout:
        code = proc.poll()
        if code is not None:
            raise BenchError(
                f"{name} exited with status {code} before becoming ready; log tail:\n" + log_tail()
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return time.perf_counter() - t0
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise BenchError(
        f"{name} not ready at {url} after {timeout:.0f}s (last: {last}); log tail:\n" + log_tail()
    )


class Server:
    """A server process in its own process group, pinned to SERVER_CORE, logging to a file."""

    live: list[Server] = []  # every started server, for the cleanup paths

    def __init__(
        self, key: str, cmd: list[str], env: dict[str, str], cwd: Path, log_path: Path
    ) -> None:
        self.key = key
        self.cmd = pinned(SERVER_CORE, cmd)
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log(f"starting {self.key}: {' '.join(self.cmd)}")
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                self.cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # own process group: Ctrl-C reaches us, we kill it
            )
        Server.live.append(self)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def wait_ready(self, url: str, timeout: float) -> float:
        assert self.proc is not None
        return wait_ready(url, self.proc, timeout, self.key, self.log_tail)

    def stop(self) -> None:
        if self.proc is None:
            return
        root = self.proc.pid
        tree = process_tree(root)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(root, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while alive(tree) and time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=0.1)
        for pid in alive(tree):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(root, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self in Server.live:
            Server.live.remove(self)
        self.proc = None


def stop_all() -> None:
    for server in list(Server.live):
        with contextlib.suppress(Exception):
            server.stop()


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
