"""Load: latency p50/p99, throughput and peak memory under concurrency, through the real server.

The gates layer may not import the inference server (layers point down), so the measurement
is a pluggable *load runner* that a higher layer registers with :func:`set_load_runner`: given
a :class:`LoadRequest` (the version, its artifact digest, sample rows, concurrency, requests) it
starts the server on that artifact, drives it and returns a :class:`LoadResult`. Without a
registered runner the check is ``skipped`` and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelyard.core.gate_policy import LoadPolicy
from modelyard.gates.base import CheckResult, at_least, at_most, skipped, verdict
from modelyard.gates.context import GateContext


@dataclass(frozen=True)
class LoadRequest:
    model_ref: str | None
    artifact_digest: str | None
    rows: list[dict[str, Any]]
    concurrency: int
    requests: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadResult:
    p50_ms: float
    p99_ms: float
    throughput_rps: float
    peak_memory_mb: float | None = None
    errors: int = 0


LoadRunner = Callable[[LoadRequest], LoadResult]
_RUNNER: list[LoadRunner] = []


def set_load_runner(runner: LoadRunner | None) -> None:
    """Register (or with None, remove) the function that load-tests a version."""
    _RUNNER.clear()
    if runner is not None:
        _RUNNER.append(runner)


def load_runner() -> LoadRunner | None:
    return _RUNNER[0] if _RUNNER else None


class LoadCheck:
    name = "load"

    def __init__(self, config: LoadPolicy | None = None, runner: LoadRunner | None = None) -> None:
        self.config = config or LoadPolicy()
        self.runner = runner

    def run(self, ctx: GateContext) -> CheckResult:
        cfg = self.config
        runner = self.runner or load_runner()
        if runner is None:
            return skipped(
                self.name,
                "no load runner registered: the inference server registers one with "
                "modelyard.gates.checks.load.set_load_runner; until then latency is not measured",
            )
        sample = ctx.X().head(200)
        rows: list[dict[str, Any]] = [
            {str(k): v for k, v in r.items()}
            for r in sample.astype(object).where(sample.notna(), None).to_dict(orient="records")
        ]

        def measure(ref: str | None, digest: str | None) -> LoadResult:
            return runner(
                LoadRequest(
                    model_ref=ref,
                    artifact_digest=digest,
                    rows=rows,
                    concurrency=cfg.concurrency,
                    requests=cfg.requests,
                    extra=dict(ctx.load_target),
                )
            )

        res = measure(ctx.candidate.ref, ctx.artifact_digest)
        champ = (
            measure(ctx.champion.ref, ctx.load_target.get("champion_digest"))
            if ctx.champion is not None and ctx.load_target.get("champion_digest")
            else None
        )
        p99_limit = cfg.max_p99_ms if cfg.max_p99_ms is not None else ctx.sla_p99_ms
        figures = [
            at_most("latency p50 (ms)", res.p50_ms, cfg.max_p50_ms, champ and champ.p50_ms),
            at_most("latency p99 (ms)", res.p99_ms, p99_limit, champ and champ.p99_ms),
            at_least(
                "throughput (req/s)",
                res.throughput_rps,
                cfg.min_throughput_rps,
                champ and champ.throughput_rps,
            ),
            at_most(
                "peak memory (MB)",
                res.peak_memory_mb,
                cfg.max_memory_mb,
                champ and champ.peak_memory_mb,
            ),
            at_most("errors", res.errors, 0),
        ]
        return verdict(
            self.name,
            figures,
            cfg.severity,
            passed_message=f"p99 {res.p99_ms:.1f} ms at concurrency {cfg.concurrency}",
            details={"concurrency": cfg.concurrency, "requests": cfg.requests},
        )
