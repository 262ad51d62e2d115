"""``modelyard doctor``: is the store sound? Migrations current, every artifact intact."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from modelyard.registry.registry import Registry
from modelyard.store.engine import current_revision, head_revision


@dataclass
class DoctorReport:
    schema_revision: str | None = None
    head_revision: str | None = None
    artifacts_checked: int = 0
    problems: list[str] = field(default_factory=list)
    partial_objects: list[str] = field(default_factory=list)
    stale_runs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(reg: Registry, progress: Callable[[int, int], None] | None = None) -> DoctorReport:
    rep = DoctorReport(current_revision(reg.store.engine), head_revision())
    if rep.schema_revision != rep.head_revision:
        rep.problems.append(
            f"schema at revision {rep.schema_revision}, newest is {rep.head_revision}"
        )
    rows = reg.store.artifacts.all()
    for i, row in enumerate(rows, 1):
        problem = reg.artifacts.verify(row.digest)
        if problem:
            rep.problems.append(f"{row.kind} artifact {row.digest}: {problem}")
        rep.artifacts_checked += 1
        if progress:
            progress(i, len(rows))
    # leftovers of interrupted writes are invisible as objects; report (and clear) them
    rep.partial_objects = reg.artifacts.partial_objects()
    rep.stale_runs = [r.id for r in reg.store.runs.all(limit=10_000) if r.status == "running"]
    return rep


def clean_partials(reg: Registry, report: DoctorReport) -> int:
    for key in report.partial_objects:
        reg.artifacts.backend.delete(key)
    return len(report.partial_objects)
