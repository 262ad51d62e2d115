"""``modelyard monitor backfill``: window sketches rebuilt from the Parquet prediction log.

Scans the endpoint's partitions between two dates out of core (DuckDB, see
``monitoring.outofcore``) and writes one window per (version, window) into the store with
replica ``backfill``, next to the live replicas' windows. Running it twice over the same days
adds the counts twice (windows are merged per key): backfill a period once.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli.app import JsonOpt, ProjectOpt, open_registry
from modelyard.cli.cmd_monitor import monitor_app
from modelyard.core.errors import InvalidInput
from modelyard.registry import queries
from modelyard.terminal import render

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """``90s``, ``5m``, ``1h``, ``1d`` → seconds."""
    m = _DURATION.match(text.strip())
    if not m or float(m.group(1)) <= 0:
        raise InvalidInput(
            f"--window {text!r} is not a duration",
            hint="use a positive number with a unit: 30s, 5m, 1h or 1d",
        )
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def parse_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r} is not a date", hint="use YYYY-MM-DD (UTC)"
        ) from None


@monitor_app.command("backfill")
def backfill(
    endpoint: Annotated[str, typer.Argument(help="Endpoint whose Parquet log is scanned.")],
    since: Annotated[str, typer.Option("--since", help="First day, YYYY-MM-DD (UTC).")],
    until: Annotated[
        str | None,
        typer.Option("--until", help="Day after the last one, YYYY-MM-DD (default: tomorrow)."),
    ] = None,
    window: Annotated[str, typer.Option("--window", help="Window width: 30s, 5m, 1h, 1d.")] = "1h",
    memory_limit: Annotated[
        str, typer.Option("--memory-limit", help="DuckDB memory bound (spills beyond).")
    ] = "1GB",
    project: ProjectOpt = Path("."),
    json_: JsonOpt = False,
) -> None:
    """Rebuild monitoring windows from the Parquet prediction log and store them.

    Example: [bold]modelyard monitor backfill credit --since 2026-10-01 --until 2026-11-01[/]
    """
    from modelyard.monitoring.outofcore import backfill_windows, prediction_log_of, store_windows
    from modelyard.monitoring.version_baseline import BaselineCache

    width = parse_duration(window)
    first = parse_date(since, "--since")
    last = (
        parse_date(until, "--until")
        if until
        else dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    )
    if last <= first:
        raise InvalidInput(f"--until {last} is not after --since {first}")
    with open_registry(project) as reg:
        if endpoint not in reg.config.endpoints:
            known = ", ".join(sorted(reg.config.endpoints)) or "none"
            raise InvalidInput(
                f"unknown endpoint {endpoint!r}", hint=f"endpoints in the project: {known}"
            )
        cache = BaselineCache(reg)
        missing: list[str] = []

        def baseline_for(version_id: int, ref: str) -> Any:
            mv = queries.version_by_id(reg, version_id)
            found = cache.get(mv)
            if found is None:
                missing.append(ref)
            return found

        url, options = prediction_log_of(reg.settings)
        with render.console.status("scanning the prediction log…"):
            windows = backfill_windows(
                url,
                endpoint,
                baseline_for,
                first,
                last,
                width,
                storage_options=options,
                memory_limit=memory_limit,
            )
        store_windows(reg, windows)
    rows = [
        {
            "version": w.version,
            "start": w.start.isoformat(),
            "end": w.end.isoformat(),
            "requests": w.sketch.requests,
        }
        for w in windows
    ]
    if json_:
        render.emit_json({"endpoint": endpoint, "windows": rows, "no_baseline": missing})
        return
    render.table(
        f"{endpoint}: {len(rows)} windows backfilled from {url}",
        ["version", "start", "end", "requests"],
        [[r["version"], r["start"], r["end"], f"{r['requests']:,}"] for r in rows],
    )
    if missing:
        render.console.print(
            f"[yellow]no baseline (training data unknown) for {', '.join(missing)}: skipped[/]"
        )
