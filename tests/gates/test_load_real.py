"""The load check through the real inference server (a `modelyard serve` process on a socket)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from modelyard.cli.load_runner import run_load
from modelyard.gates.checks.load import set_load_runner
from modelyard.gates.runner import run_gate
from tests.gates.conftest import train_version

pytestmark = pytest.mark.slow

LOAD_ONLY = """\
dataset: arrests-eval@1
positive_label: "Yes"
load: {concurrency: 4, requests: 300}
"""


@pytest.fixture
def real_runner() -> Iterator[None]:
    set_load_runner(run_load)
    yield
    set_load_runner(None)


def test_load_is_measured_through_the_real_server(
    gate_project: Callable[..., Any], real_runner: None
) -> None:
    reg = gate_project(LOAD_ONLY)
    mv = train_version(reg)
    report, _ = run_gate(reg, mv.ref, transition=False)
    (check,) = report.checks
    assert check.name == "load" and check.status in ("pass", "fail"), check.message
    figures: dict[str, Any] = {f.name: f.value for f in check.figures}
    assert 0 < figures["latency p50 (ms)"] <= figures["latency p99 (ms)"]
    assert figures["throughput (req/s)"] > 0
    assert figures["peak memory (MB)"] > 50, "the server process's own high-water mark"
