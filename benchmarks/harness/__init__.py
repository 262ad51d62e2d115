"""What the benchmarks share: anchor virtual environments (``venvs``), /proc CPU and memory
accounting and core pinning (``procs``), server processes started, waited for and stopped
(``launch``), the wrk load driver (``wrk``) and report tables and ratios (``report``).

Imported by the scripts in ``benchmarks/`` (their folder is the import root when they run as
``.venv/bin/python benchmarks/NAME.py``); progress goes to stderr through :func:`log`, tagged
with the name the script sets with :func:`set_log_name`.
"""

from __future__ import annotations

import sys

_log_name = ["bench"]


class BenchError(Exception):
    """A server or an anchor could not be prepared, started or checked; the message says why."""


def set_log_name(name: str) -> None:
    """Tag every later :func:`log` line with ``[name]``."""
    _log_name[0] = name


def log(msg: str) -> None:
    print(f"[{_log_name[0]}] {msg}", file=sys.stderr, flush=True)
