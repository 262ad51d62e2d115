"""The console entry point run in-process: same argument parsing and exit codes as the
installed `modelyard` script, with its output captured."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass

import pytest


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run_main(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    env: Mapping[str, str],
) -> Ran:
    """``modelyard *args`` with ``env`` set and no ``MODELYARD_SERVER`` (so it runs locally)."""
    from modelyard.cli.main import main

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MODELYARD_SERVER", raising=False)
    monkeypatch.setattr(sys, "argv", ["modelyard", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return Ran(code, out.out, out.err)
