"""Processes and cores on Linux: pinning a command to a core (with an optional ``nice``), free
ports, and /proc accounting: a server's process tree, its CPU seconds and resident memory, how
busy a core is, and waiting for the benchmark cores to be quiet on a shared machine."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from harness import log

SERVER_CORE = "0"
LOAD_CORE = "1"


class Priority:
    """`nice` value for servers and wrk (set from --nice); 0 leaves the scheduler alone."""

    nice = 0


def pinned(core: str, cmd: Sequence[str]) -> list[str]:
    """CMD pinned to CORE with taskset (and reniced when --nice asks for it)."""
    prefix = ["nice", "-n", str(Priority.nice)] if Priority.nice else []
    return [*prefix, "taskset", "-c", core, *cmd]


def apply_priority(pids: Iterable[int]) -> None:
    """Give the autogroups of PIDS the --nice value.

    With CONFIG_SCHED_AUTOGROUP (most distributions) the CPU is shared between sessions first, so
    `nice` alone does nothing against other jobs; each session's autogroup carries its own nice.
    """
    if not Priority.nice:
        return
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/autogroup").write_text(str(Priority.nice))


def can_pin() -> bool:
    """Whether :func:`pinned` can work here: ``taskset`` installed and two cores or more."""
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0], ppid [1], pgrp [2])."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def process_tree(root: int) -> dict[int, str]:
    """ROOT, its process group and all their descendants, as pid -> start time.

    BentoML's arbiter starts its workers in sessions of their own, so a process group is not
    enough to find (or kill) everything a server started.
    """
    table: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _proc_stat(int(entry))
            if fields is not None:
                table[int(entry)] = fields
    members = {pid for pid, f in table.items() if pid == root or int(f[2]) == root}
    grew = True
    while grew:
        kids = {pid for pid, f in table.items() if int(f[1]) in members} - members
        grew = bool(kids)
        members |= kids
    return {pid: table[pid][19] for pid in members}


def alive(tree: dict[int, str]) -> dict[int, str]:
    """The members of a process_tree() snapshot still running (same pid and start time)."""
    out = {}
    for pid, start in tree.items():
        fields = _proc_stat(pid)
        if fields is not None and fields[19] == start and fields[0] != "Z":
            out[pid] = start
    return out


def tree_cpu_seconds(root: int) -> float:
    """utime + stime of the live processes of a server."""
    total = 0
    for pid in process_tree(root):
        fields = _proc_stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def tree_rss_mb(root: int) -> float:
    total_kb = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


def core_busy_seconds(core: str) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            v = [int(x) for x in line.split()[1:]]
            idle = v[3] + v[4]
            return (sum(v[:8]) - idle) / ticks
    return 0.0


def cores_busy(seconds: float) -> tuple[float, float]:
    """Busy fraction of the server core and the load core over SECONDS."""
    a0, a1 = core_busy_seconds(SERVER_CORE), core_busy_seconds(LOAD_CORE)
    time.sleep(seconds)
    b0, b1 = core_busy_seconds(SERVER_CORE), core_busy_seconds(LOAD_CORE)
    return (b0 - a0) / seconds, (b1 - a1) / seconds


def wait_quiet(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (up to MAX_WAIT s) until both benchmark cores are idle; return the seconds waited.

    On a shared machine other jobs on core 0 or 1 would be measured as server or wrk time.
    """
    t0 = time.perf_counter()
    warned = False
    while True:
        s0, s1 = cores_busy(1.0)
        waited = time.perf_counter() - t0
        if max(s0, s1) < threshold:
            return waited
        if waited >= max_wait:
            log(
                f"warning: cores still busy ({s0:.0%} / {s1:.0%}) after {waited:.0f}s: "
                "measuring anyway, figures will be noisy"
            )
            return waited
        if not warned:
            log(
                f"waiting for cores {SERVER_CORE},{LOAD_CORE} to be quiet "
                f"(busy {s0:.0%} / {s1:.0%}; other jobs on this machine)"
            )
            warned = True
