"""The serving benchmark's results and report: per server and model the load runs, the issue's
goals (met, not met, or not judged) and context ratios, printed as tables."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.procs import SERVER_CORE
from harness.report import fmt_num, table
from harness.wrk import LoadResult
from serving_models import BenchModel

GOAL_VS_BENTOML = 5.0
GOAL_VS_MLFLOW = 6.0
GOAL_P50_SLACK = 0.10


@dataclass
class ServerResult:
    server: str
    model: str
    ok: bool
    skipped: bool = False  # not available at all (e.g. `modelyard serve` not implemented yet)
    version: str = ""
    wire_format: str = ""
    error: str | None = None
    startup_s: float | None = None
    rss_mb_loaded: float | None = None
    rss_mb_after: float | None = None
    runs: list[LoadResult] = field(default_factory=list)

    def at(self, concurrency: int) -> LoadResult | None:
        return next((r for r in self.runs if r.concurrency == concurrency), None)


@dataclass
class Goal:
    name: str
    value: str
    met: bool | None  # None: could not be judged


def goals_for(results: dict[str, ServerResult], top: int, low: int) -> list[Goal]:
    """The issue's goals for one model; met=None when they cannot be judged."""
    my = results.get("modelyard")

    def run(key: str, c: int) -> LoadResult | None:
        r = results.get(key)
        x = r.at(c) if r is not None and r.ok else None
        return x if x is not None and x.requests else None

    def missing(name: str, side: str) -> Goal:
        if my is None or my.skipped:
            return Goal(name, "n/a: modelyard not measured", None)
        if not my.ok:
            first = (my.error or "failed").splitlines()[0]
            return Goal(name, f"modelyard failed: {first}", False)
        return Goal(name, f"n/a: {side} not measured", None)

    my_top, my_low = run("modelyard", top), run("modelyard", low)
    bento = [x for x in (run("bentoml", top), run("bentoml-batch", top)) if x is not None]
    best_bento = max(bento, key=lambda x: x.rps) if bento else None
    mlf = run("mlflow", top)
    bare_low = run("bare", low)
    goals: list[Goal] = []

    for name, other, side, goal in (
        (
            f"req/s vs best BentoML @c{top} >= {GOAL_VS_BENTOML:g}x",
            best_bento,
            "BentoML",
            GOAL_VS_BENTOML,
        ),
        (f"req/s vs MLflow @c{top} >= {GOAL_VS_MLFLOW:g}x", mlf, "MLflow", GOAL_VS_MLFLOW),
    ):
        if my_top is None or other is None or other.rps == 0:
            goals.append(missing(name, side))
        else:
            ratio = my_top.rps / other.rps
            goals.append(
                Goal(
                    name,
                    f"{ratio:.2f}x ({my_top.rps:,.0f} vs {other.rps:,.0f} req/s)",
                    ratio >= goal,
                )
            )

    name = f"p99 @c{top} lower than BentoML and MLflow"
    others = [x for x in (*bento, mlf) if x is not None]
    if my_top is None or not bento or mlf is None:
        goals.append(missing(name, "BentoML/MLflow"))
    else:
        lowest = min(x.p99_ms for x in others)
        goals.append(
            Goal(
                name,
                f"{my_top.p99_ms:.2f} ms vs lowest anchor {lowest:.2f} ms",
                my_top.p99_ms < lowest,
            )
        )

    name = f"p50 @c{low} within {GOAL_P50_SLACK:.0%} of bare"
    if my_low is None or bare_low is None:
        goals.append(missing(name, "bare"))
    else:
        d = my_low.p50_ms / bare_low.p50_ms - 1
        goals.append(
            Goal(
                name,
                f"{d:+.1%} ({my_low.p50_ms:.3f} vs {bare_low.p50_ms:.3f} ms)",
                d <= GOAL_P50_SLACK,
            )
        )

    if my is None or not my.ok:
        goals.append(missing("zero errors", "modelyard"))
    else:
        n = sum(r.errors for r in my.runs)
        goals.append(Goal("zero errors", f"{n} errors in {len(my.runs)} runs", n == 0))
    return goals


def context_ratios(results: dict[str, ServerResult], top: int) -> list[str]:
    """Ratios at the top concurrency by req/s and by server CPU per request.

    CPU per request is the steadier of the two when other jobs share the machine.
    """

    def run(key: str) -> LoadResult | None:
        r = results.get(key)
        x = r.at(top) if r is not None and r.ok else None
        return x if x is not None and x.requests else None

    lines = []
    for mine in ("modelyard", "modelyard-nocompile", "bare"):
        a = run(mine)
        if a is None:
            continue
        for other in ("bare", "bentoml", "bentoml-batch", "mlflow"):
            b = run(other)
            if other == mine or b is None or not b.rps:
                continue
            line = f"{mine} / {other} @c{top}: req/s {a.rps / b.rps:.2f}x"
            if a.server_cpu_us_per_req and b.server_cpu_us_per_req:
                cpu = b.server_cpu_us_per_req / a.server_cpu_us_per_req
                line += f", CPU per request {cpu:.2f}x less"
            lines.append(line)
    return lines


def report(
    models: list[BenchModel],
    all_results: dict[str, dict[str, ServerResult]],
    concurrency: list[int],
) -> dict[str, list[Goal]]:
    top, low = max(concurrency), min(concurrency)
    goals_by_model: dict[str, list[Goal]] = {}
    for m in models:
        results = all_results.get(m.name)
        if results is None:  # interrupted before this model's turn
            continue
        array = m.local_predict_array_us
        print(
            f"\n== {m.name}: {m.title} (local model.predict, 1 row: "
            f"{m.local_predict_us:,.0f} µs on a DataFrame"
            + (f", {array:,.0f} µs on an array" if array is not None else "")
            + ") =="
        )
        head = ["server", "conc", "req/s", "p50 ms", "p99 ms", "errors", "cpu µs/req", "rss MB"]
        rows = [[*head, "other%"]]
        failures = []
        for key, r in results.items():
            if not r.ok and not r.runs:
                failures.append(f"{key}: {r.error.splitlines()[0] if r.error else 'failed'}")
                continue
            for x in r.runs:
                rows.append(
                    [
                        key,
                        str(x.concurrency),
                        fmt_num(x.rps),
                        f"{x.p50_ms:.2f}" if x.requests else "-",
                        f"{x.p99_ms:.2f}" if x.requests else "-",
                        str(x.errors),
                        fmt_num(x.server_cpu_us_per_req),
                        fmt_num(r.rss_mb_after),
                        f"{x.foreign_core_load_pct:.0f}",
                    ]
                )
        if len(rows) > 1:
            print(table(rows, right={1, 2, 3, 4, 5, 6, 7, 8}))
        for f in failures:
            print(f"  not measured: {f}")
        if len(rows) > 1:
            print(
                "  (cpu µs/req: the server's CPU time per request; other%: share of the server's "
                f"core {SERVER_CORE} used by other processes during the run, noise if > 5)"
            )
        goals = goals_for(results, top, low)
        goals_by_model[m.name] = goals
        print(f"\n  goals ({m.name}):")
        for g in goals:
            mark = "n/a" if g.met is None else ("met" if g.met else "NOT MET")
            print(f"    [{mark:>7}] {g.name}: {g.value}")
        for line in context_ratios(results, top):
            print(f"    context: {line}")
    return goals_by_model
