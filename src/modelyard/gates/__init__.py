"""Release gates: declarative checks a model version must pass before it is validated.

One :class:`~modelyard.gates.base.Check` protocol; built-in checks live one per module in
``modelyard.gates.checks`` and are imported only when a policy uses them; plug-ins register
with :func:`~modelyard.gates.plugins.register_check`. :func:`~modelyard.gates.runner.run_gate`
runs a version's policy, stores the JSON and HTML report and moves the version to validated or
rejected.
"""

from modelyard.gates.base import Check, CheckResult, Figure, Status
from modelyard.gates.plugins import available, register_check, unregister_check

__all__ = [
    "Check",
    "CheckResult",
    "Figure",
    "Status",
    "available",
    "register_check",
    "unregister_check",
]
