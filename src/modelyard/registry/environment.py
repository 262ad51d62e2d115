"""What a training run records about where it ran: code, dependencies, interpreter, machine."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCK_FILES = ("uv.lock", "poetry.lock", "pdm.lock", "requirements.lock", "requirements.txt")


def _git(cwd: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.decode(errors="replace") if out.returncode == 0 else None


def _in_git_work_tree(cwd: Path) -> bool:
    # Looking for .git in Python first spares a subprocess (~5-40 ms) per run outside a repo.
    return any((folder / ".git").exists() for folder in (cwd, *cwd.resolve().parents))


def git_state(cwd: Path) -> dict[str, Any]:
    """Commit, dirty flag and a hash of the uncommitted diff (tracked and untracked files)."""
    if not _in_git_work_tree(cwd):
        return {"commit": None, "dirty": None, "diff_sha256": None}
    status = _git(cwd, "status", "--porcelain=v2", "--branch", "--untracked-files=normal")
    if status is None:
        return {"commit": None, "dirty": None, "diff_sha256": None}
    commit = None
    changes = []
    for line in status.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split()[-1]
            commit = None if oid == "(initial)" else oid
        elif not line.startswith("#"):
            changes.append(line)
    state: dict[str, Any] = {"commit": commit, "dirty": bool(changes), "diff_sha256": None}
    if changes:
        diff = _git(cwd, "diff", "HEAD", "--binary") if commit else ""
        h = hashlib.sha256((diff or "").encode())
        for line in changes:
            if line.startswith("? "):  # untracked: hash name and content
                path = cwd / line[2:]
                h.update(line.encode())
                if path.is_file():
                    h.update(path.read_bytes())
        state["diff_sha256"] = h.hexdigest()
    root = _git(cwd, "rev-parse", "--show-toplevel")
    state["root"] = root.strip() if root else None
    return state


def lock_file(start: Path) -> tuple[str | None, str | None]:
    """The nearest lock file at or above ``start`` and its SHA-256."""
    for folder in (start, *start.parents):
        for name in LOCK_FILES:
            path = folder / name
            if path.is_file():
                return str(path), hashlib.sha256(path.read_bytes()).hexdigest()
    return None, None


@lru_cache(maxsize=1)
def installed_packages() -> tuple[tuple[str, str], ...]:
    """Installed distributions, once per process (they do not change under a running run)."""
    from importlib import metadata

    pkgs = {(d.metadata["Name"] or "?", d.version) for d in metadata.distributions()}
    return tuple(sorted(pkgs, key=lambda p: p[0].lower()))


@lru_cache(maxsize=1)
def packages_blob() -> bytes:
    return json.dumps(installed_packages(), separators=(",", ":")).encode()


def interpreter() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": _cpu_count(),
    }


def _cpu_count() -> int | None:
    import os

    return os.cpu_count()
