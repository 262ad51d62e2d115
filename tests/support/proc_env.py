"""Environment for the child Python processes the process-level tests start.

When bytecode writing is switched off (``PYTHONDONTWRITEBYTECODE``, common in containers),
every child recompiles SQLAlchemy & co. from source, which costs seconds per process. Children
then get a private ``PYTHONPYCACHEPREFIX`` under the temp folder instead, so the first child
compiles and the rest load bytecode. Nothing is written into the source tree or the venv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if env.get("PYTHONDONTWRITEBYTECODE") and not env.get("PYTHONPYCACHEPREFIX"):
        env.pop("PYTHONDONTWRITEBYTECODE")
        env["PYTHONPYCACHEPREFIX"] = str(
            Path(tempfile.gettempdir()) / f"modelyard-test-pycache-{os.getuid()}"
        )
    env.update(extra or {})
    return env


def warm_imports(*modules: str) -> None:
    """Import ``modules`` once in a child so later children find their bytecode cached."""
    code = "; ".join(f"import {m}" for m in modules)
    subprocess.run([sys.executable, "-c", code], env=child_env(), check=True, timeout=120)
