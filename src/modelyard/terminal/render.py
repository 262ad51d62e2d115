"""Rendering helpers: rich tables for people, JSON for machines."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_default, sort_keys=False) + "\n")


def ago(value: Any) -> str:
    if not isinstance(value, dt.datetime):
        return "" if value is None else str(value)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(c)
    n = 0
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
        n += 1
    if n == 0:
        console.print(f"[dim]{title}: none[/dim]")
    else:
        console.print(t)


STATE_STYLE = {
    "proposed": "yellow",
    "validated": "cyan",
    "rejected": "red",
    "approved": "blue",
    "deployed": "green",
    "deprecated": "magenta",
    "retired": "dim",
}


def state(s: str) -> str:
    return f"[{STATE_STYLE.get(s, 'white')}]{s}[/]"
