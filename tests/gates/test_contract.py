"""Every built-in check keeps the plug-in contract; the kit catches checks that break it."""

from __future__ import annotations

import pytest

from modelyard.gates import CheckResult, plugins
from modelyard.gates.base import Check, Figure
from modelyard.gates.context import GateContext
from modelyard.testing.check_contract import check_gate, contract_context


@pytest.mark.parametrize("name", sorted(plugins.BUILTIN))
def test_builtin_checks_keep_the_contract(name: str) -> None:
    check_gate(plugins.build(name, None), deterministic=name != "cost")


def test_checks_are_imported_lazily() -> None:
    import subprocess
    import sys

    code = (
        "import sys, modelyard.gates, modelyard.gates.runner; "
        "print(any(m.startswith('modelyard.gates.checks.') for m in sys.modules), "
        "'fairlearn' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


class Mutating:
    name = "mutating"

    def run(self, ctx: GateContext) -> CheckResult:
        ctx.frame.loc[ctx.frame.index[0], "mean_radius"] = -1.0
        return CheckResult(name=self.name, status="pass", message="ok")


class LiesAboutFailure:
    name = "lies"

    def run(self, ctx: GateContext) -> CheckResult:
        bad = Figure(name="x", value=2.0, limit="≤ 1", ok=False)
        return CheckResult(name=self.name, status="pass", message="fine", figures=[bad])


class WrongName:
    name = "right"

    def run(self, ctx: GateContext) -> CheckResult:
        return CheckResult(name="wrong", status="pass", message="ok")


class Flaky:
    name = "flaky"
    calls = 0

    def run(self, ctx: GateContext) -> CheckResult:
        Flaky.calls += 1
        return CheckResult(
            name=self.name,
            status="pass",
            message="ok",
            figures=[Figure(name="n", value=float(Flaky.calls))],
        )


@pytest.mark.parametrize(
    ("check", "rule"),
    [
        (Mutating(), "must not modify the evaluation data"),
        (LiesAboutFailure(), "cannot give status pass"),
        (WrongName(), "name must equal the check's name"),
        (Flaky(), "figures must be reproducible"),
    ],
)
def test_contract_kit_names_the_broken_rule(check: Check, rule: str) -> None:
    with pytest.raises(AssertionError, match=rule):
        check_gate(check)


def test_contract_context_is_real_data() -> None:
    ctx = contract_context()
    assert len(ctx.frame) == 569 and ctx.binary and ctx.protected() == ["group"]
