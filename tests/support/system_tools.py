"""Programs the suite needs from outside Python, found on the machine and never installed here.

``tests/support/system_deps.sh`` (``make deps``; ``.ci/run`` runs it before pytest) is the one
place that installs them. A test that needs one calls :func:`require_program`: in CI (``CI`` or the
tool's ``MODELYARD_REQUIRE_*`` set) a missing program fails the test, elsewhere it skips with the
command that installs it. Fixtures never call the package manager themselves: two xdist workers
doing so at once fight over the dpkg lock.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

INSTALL_HINT = "sudo make deps  (tests/support/system_deps.sh)"


def required_in_this_run(env_var: str) -> bool:
    return bool(os.environ.get("CI") or os.environ.get(env_var))


def require_program(path: str, package: str, env_var: str) -> str:
    """``path`` when it is an executable file; otherwise fail (CI) or skip, naming the fix."""
    if Path(path).is_file() and os.access(path, os.X_OK):
        return path
    message = f"{path} is missing (Debian package {package!r}); install it with: {INSTALL_HINT}"
    if required_in_this_run(env_var):
        pytest.fail(f"{message} [{env_var} or CI is set, so a missing program is a failure]")
    pytest.skip(message)
