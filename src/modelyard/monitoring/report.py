"""Batch drift report: two datasets in, a ``DriftResult`` out, rendered as JSON or HTML.

The HTML is one self-contained file (Jinja2, inline CSS and SVG charts, no scripts, no CDN), so it
can be attached to a model version, mailed or opened offline.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from pathlib import Path
from typing import Any

from modelyard.monitoring.drift import DriftResult, DriftSettings, compare_frames

TEMPLATE = "drift_report.html.j2"


def drift_report(
    reference: Any,
    current: Any,
    settings: DriftSettings | None = None,
    *,
    categorical: list[str] | tuple[str, ...] = (),
    exclude: list[str] | tuple[str, ...] = (),
    prediction: str | None = None,
    as_of: dt.datetime | None = None,
) -> DriftResult:
    """Compare two DataFrames (raw mode) with the default or given settings; datetime columns'
    freshness is measured up to ``as_of`` (the window end; default now)."""
    return compare_frames(
        reference,
        current,
        settings,
        categorical=categorical,
        exclude=exclude,
        prediction=prediction,
        as_of=as_of,
    )


def to_json(result: DriftResult, indent: int | None = 2) -> str:
    return json.dumps(result.to_dict(), indent=indent, allow_nan=False)


def to_html(result: DriftResult, title: str = "Data drift report") -> str:
    import jinja2
    import markupsafe

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    data = result.to_dict()
    rows = [*data["features"], *([data["prediction"]] if data["prediction"] else [])]
    # drifted first, most severe first, then by name
    rank = {"critical": 0, "warning": 1, "none": 2}
    rows.sort(key=lambda f: (rank[f["severity"]], f["name"]))
    charts = [markupsafe.Markup(bar_chart_svg(f["plot"])) for f in rows]
    return env.get_template(TEMPLATE).render(
        title=title,
        report=_Obj(data),
        rows=[_Obj(r) for r in rows],
        charts=charts,
        fmt=_fmt,
        fmtp=_fmtp,
        pct=lambda x: f"{100 * x:.1f} %",
        duration=duration,
    )


def bar_chart_svg(plot: dict[str, Any], width: int = 1000, height: int = 180) -> str:
    """Grouped bars (reference vs current proportions) as an inline SVG string."""
    labels, ref, cur = plot["labels"], plot["ref"], plot["cur"]
    n = len(labels)
    if not n:
        return "<p class='small'>no values</p>"
    top = max(max(ref, default=0.0), max(cur, default=0.0), 1e-12)
    left, bottom, pad = 40, 40, 10
    slot = (width - left - pad) / n
    bar = max(slot * 0.38, 1.0)
    plot_h = height - bottom - pad
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="distribution chart">',
        f'<line x1="{left}" y1="{pad + plot_h}" x2="{width - pad}" y2="{pad + plot_h}" '
        'stroke="#aab"/>',
        f'<text x="{left - 4}" y="{pad + 8}" font-size="10" text-anchor="end" fill="#667">'
        f"{100 * top:.0f}%</text>",
    ]
    step = max(1, math.ceil(n / 25))
    for i, (lab, r, c) in enumerate(zip(labels, ref, cur, strict=True)):
        x = left + i * slot + slot * 0.1
        for j, (v, color) in enumerate(((r, "#8da2c0"), (c, "#e07a3f"))):
            h = plot_h * v / top
            parts.append(
                f'<rect x="{x + j * bar:.1f}" y="{pad + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{html.escape(str(lab))}: '
                f"{'reference' if j == 0 else 'current'} {100 * v:.2f}%</title></rect>"
            )
        if i % step == 0:
            text = html.escape(str(lab)[:14])
            parts.append(
                f'<text x="{x + bar:.1f}" y="{height - bottom + 14}" font-size="10" '
                f'text-anchor="middle" fill="#445">{text}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def duration(seconds: float | None) -> str:
    """A lag in the unit a reader wants: 45 s, 12 min, 5.2 h, 3.0 days (negative: ahead)."""
    if seconds is None:
        return "—"
    sign, s = ("-" if seconds < 0 else ""), abs(seconds)
    if s < 120:
        return f"{sign}{s:.0f} s"
    if s < 7200:
        return f"{sign}{s / 60:.0f} min"
    if s < 172_800:
        return f"{sign}{s / 3600:.1f} h"
    return f"{sign}{s / 86_400:.1f} days"


class _Obj(dict[str, Any]):
    """Attribute access for the template (``f.tests.ks.statistic``); missing keys are None."""

    def __getattr__(self, key: str) -> Any:
        value = self.get(key)
        return _Obj(value) if isinstance(value, dict) else value


def _fmt(x: Any) -> str:
    if x is None:
        return "—"
    x = float(x)
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.2e}"
    return f"{x:.4f}"


def _fmtp(x: Any) -> str:
    if x is None:
        return "—"
    return "< 1e-16" if float(x) < 1e-16 else f"{float(x):.3g}"
