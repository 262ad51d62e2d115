"""Time-series charts drawn on the server as SVG (no JavaScript, no chart library).

One chart kind serves every page: lines over time, an optional threshold line, points flagged
on a series (e.g. drifted windows), and numbered vertical markers for what happened meanwhile
(deployments, rollbacks, new dataset versions), each with its full text as a tooltip, so a
change in a line can be tied to its cause. Every text is escaped; no data gives a chart that
says so instead of an empty box.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#2f5fd0", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d")
MARKER_COLOURS = {
    "deploy": "#2563eb",
    "rollback": "#b91c1c",
    "rollout": "#7c3aed",
    "data": "#15803d",
}
PAD_L, PAD_R, PAD_T, PAD_B = 52, 12, 50, 34


@dataclass(frozen=True)
class Series:
    """One line: ``points`` are (time, value); a ``None`` value breaks the line."""

    name: str
    points: Sequence[tuple[dt.datetime, float | None]]
    flagged: Sequence[dt.datetime] = ()  # times whose point is marked (e.g. drifted windows)
    dashed: bool = False


@dataclass(frozen=True)
class Marker:
    """A vertical line at ``at``: ``label`` is drawn (keep it short, e.g. a number), ``title``
    is the tooltip; ``kind`` picks the colour (deploy, rollback, rollout, data)."""

    at: dt.datetime
    label: str
    title: str
    kind: str = "deploy"


def _a(value: object) -> str:
    return escape(str(value), quote=True)


def fmt(value: float, percent: bool = False) -> str:
    """A figure for an axis or tooltip: 3 significant digits, or a percentage."""
    if percent:
        return f"{value * 100:.3g}%"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.2e}"
    return f"{value:.3g}"


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    span = hi - lo
    if span <= 0 or not math.isfinite(span):
        return [lo]
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = min((m * power for m in (1, 2, 5, 10)), key=lambda st: abs(span / st - count))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    return ticks


def _time_label(at: dt.datetime, span: dt.timedelta) -> str:
    if span <= dt.timedelta(minutes=10):
        return at.strftime("%H:%M:%S")
    if span <= dt.timedelta(days=2):
        return at.strftime("%H:%M")
    if span <= dt.timedelta(days=10):
        return at.strftime("%m-%d %H:%M")
    return at.strftime("%Y-%m-%d")


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def line_chart(
    key: str,
    series: Sequence[Series],
    *,
    title: str,
    y_label: str,
    markers: Sequence[Marker] = (),
    threshold: float | None = None,
    threshold_label: str = "threshold",
    percent: bool = False,
    width: int = 520,
    height: int = 210,
) -> str:
    """An SVG line chart over time. ``key`` names what is charted (the ``data-series``
    attribute of the ``<svg>``, e.g. ``feature.age.effect``); each line carries its own name in
    ``data-name``. Markers outside the data's time span are left out."""
    values = [
        (_utc(t), float(v))
        for s in series
        for t, v in s.points
        if v is not None and math.isfinite(float(v))
    ]
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-series="{_a(key)}" '
        f'data-points="{len(values)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_a(title)}" '
        f'font-family="system-ui, sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>"
        f'<text x="{PAD_L}" y="16" font-size="12" font-weight="600">{escape(title)}</text>'
    )
    if not values:
        return (
            head + f'<text class="empty" x="{width / 2}" y="{height / 2}" text-anchor="middle" '
            f'fill="#6b7280">No data yet</text></svg>'
        )
    x0 = min(t for t, _ in values)
    x1 = max(t for t, _ in values)
    if x1 == x0:
        x0, x1 = x0 - dt.timedelta(minutes=1), x1 + dt.timedelta(minutes=1)
    lo = min(0.0, min(v for _, v in values))
    hi = max(v for _, v in values)
    if threshold is not None and math.isfinite(threshold):
        hi = max(hi, threshold)
        lo = min(lo, threshold)
    if percent:
        hi = max(hi, 0.01)
    hi = hi + (hi - lo) * 0.08 if hi > lo else lo + 1.0
    ticks = nice_ticks(lo, hi)
    hi = max(hi, ticks[-1])
    plot_w, plot_h = width - PAD_L - PAD_R, height - PAD_T - PAD_B
    span_s = (x1 - x0).total_seconds()

    def px(at: dt.datetime) -> float:
        return round(PAD_L + (_utc(at) - x0).total_seconds() / span_s * plot_w, 1)

    def py(v: float) -> float:
        return round(PAD_T + (hi - v) / (hi - lo) * plot_h, 1)

    out = [head]
    bottom, right = PAD_T + plot_h, PAD_L + plot_w
    out.append(
        f'<g class="axes" stroke="#d1d5db"><line x1="{PAD_L}" y1="{bottom}" x2="{right}" '
        f'y2="{bottom}"/><line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{bottom}"/></g>'
    )
    for tick in ticks:
        y = py(tick)
        out.append(
            f'<line x1="{PAD_L}" y1="{y}" x2="{right}" y2="{y}" stroke="#f3f4f6"/>'
            f'<text x="{PAD_L - 4}" y="{y + 3}" text-anchor="end" fill="#6b7280">'
            f"{escape(fmt(tick, percent))}</text>"
        )
    span = x1 - x0
    for i in range(5):
        at = x0 + span * (i / 4)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        out.append(
            f'<text x="{px(at)}" y="{bottom + 14}" text-anchor="{anchor}" fill="#6b7280">'
            f"{escape(_time_label(at, span))}</text>"
        )
    out.append(
        f'<text x="{right}" y="{height - 4}" text-anchor="end" fill="#6b7280">time (UTC)</text>'
        f'<text x="12" y="{PAD_T + plot_h / 2}" text-anchor="middle" fill="#6b7280" '
        f'transform="rotate(-90 12 {PAD_T + plot_h / 2})">{escape(y_label)}</text>'
    )
    if threshold is not None and math.isfinite(threshold):
        y = py(threshold)
        out.append(
            f'<g class="threshold"><line x1="{PAD_L}" y1="{y}" x2="{right}" y2="{y}" '
            f'stroke="#b91c1c" stroke-dasharray="5 4" stroke-width="1"/>'
            f'<text x="{right - 2}" y="{y - 3}" text-anchor="end" fill="#b91c1c">'
            f"{escape(threshold_label)} {escape(fmt(threshold, percent))}</text></g>"
        )
    for m in markers:
        at = _utc(m.at)
        if not x0 <= at <= x1:
            continue
        x = px(at)
        colour = MARKER_COLOURS.get(m.kind, "#6b7280")
        out.append(
            f'<g class="marker marker-{_a(m.kind)}" data-at="{_a(at.isoformat())}">'
            f"<title>{escape(m.title)}</title>"
            f'<line x1="{x}" y1="{PAD_T - 6}" x2="{x}" y2="{bottom}" stroke="{colour}" '
            f'stroke-dasharray="2 3" stroke-width="1.2"/>'
            f'<text x="{x}" y="{PAD_T - 8}" text-anchor="middle" fill="{colour}" '
            f'font-weight="600">{escape(m.label)}</text></g>'
        )
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        segments: list[list[str]] = [[]]
        for t, v in sorted(s.points, key=lambda p: _utc(p[0])):
            if v is None or not math.isfinite(float(v)):
                segments.append([])
                continue
            segments[-1].append(f"{px(t)},{py(float(v))}")
        d = " ".join("M" + " L".join(seg) for seg in segments if seg)
        dash = ' stroke-dasharray="6 3"' if s.dashed else ""
        out.append(
            f'<g class="series" data-name="{_a(s.name)}"><title>{escape(s.name)}</title>'
            f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.6"{dash}/>'
        )
        for seg in segments:
            if len(seg) == 1:  # a lone point between gaps: draw it
                cx, cy = seg[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
        flagged = {_utc(t) for t in s.flagged}
        for t, v in s.points:
            if v is not None and _utc(t) in flagged and math.isfinite(float(v)):
                out.append(
                    f'<circle class="flag" cx="{px(t)}" cy="{py(float(v))}" r="3.5" '
                    f'fill="#b91c1c" stroke="#fff" stroke-width="1"><title>'
                    f"{escape(s.name)} flagged at {escape(_utc(t).strftime('%Y-%m-%d %H:%M'))}: "
                    f"{escape(fmt(float(v), percent))}</title></circle>"
                )
        out.append("</g>")
    if len(series) > 1 or (series and series[0].name):
        x = float(PAD_L)
        legend = []
        for i, s in enumerate(series[:8]):
            colour = PALETTE[i % len(PALETTE)]
            legend.append(
                f'<rect x="{x}" y="23" width="10" height="3" fill="{colour}"/>'
                f'<text x="{x + 13}" y="28" fill="#374151">{escape(s.name)}</text>'
            )
            x += 22 + 6.2 * len(s.name)
        out.append('<g class="legend">' + "".join(legend) + "</g>")
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    key: str,
    labels: Sequence[str],
    groups: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    y_label: str = "share",
    width: int = 520,
    height: int = 210,
) -> str:
    """Grouped bars (e.g. the share of each prediction class in the reference data and in the
    newest window), values as proportions."""
    n = len(labels)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bars" data-series="{_a(key)}" '
        f'data-points="{n}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_a(title)}" font-family="system-ui, sans-serif" '
        f'font-size="11"><title>{escape(title)}</title>'
        f'<text x="{PAD_L}" y="16" font-size="12" font-weight="600">{escape(title)}</text>'
    )
    values = [float(v) for _, vs in groups for v in vs if math.isfinite(float(v))]
    if not n or not values:
        return (
            head + f'<text class="empty" x="{width / 2}" y="{height / 2}" text-anchor="middle" '
            f'fill="#6b7280">No data yet</text></svg>'
        )
    hi = max(max(values), 0.01) * 1.08
    ticks = nice_ticks(0.0, hi)
    hi = max(hi, ticks[-1])
    plot_w, plot_h = width - PAD_L - PAD_R, height - PAD_T - PAD_B
    bottom = PAD_T + plot_h
    out = [head]
    for tick in ticks:
        y = round(PAD_T + (hi - tick) / hi * plot_h, 1)
        out.append(
            f'<line x1="{PAD_L}" y1="{y}" x2="{PAD_L + plot_w}" y2="{y}" stroke="#f3f4f6"/>'
            f'<text x="{PAD_L - 4}" y="{y + 3}" text-anchor="end" fill="#6b7280">'
            f"{escape(fmt(tick, True))}</text>"
        )
    out.append(
        f'<text x="12" y="{PAD_T + plot_h / 2}" text-anchor="middle" fill="#6b7280" '
        f'transform="rotate(-90 12 {PAD_T + plot_h / 2})">{escape(y_label)}</text>'
    )
    slot = plot_w / n
    bar = max(slot * 0.8 / max(len(groups), 1), 1.0)
    for gi, (name, vs) in enumerate(groups):
        colour = PALETTE[gi % len(PALETTE)]
        out.append(f'<g class="bar-group" data-name="{_a(name)}">')
        for i, v in enumerate(vs[:n]):
            v = float(v) if math.isfinite(float(v)) else 0.0
            h = round(v / hi * plot_h, 1)
            x = round(PAD_L + i * slot + slot * 0.1 + gi * bar, 1)
            out.append(
                f'<rect x="{x}" y="{round(bottom - h, 1)}" width="{round(bar, 1)}" '
                f'height="{h}" fill="{colour}"><title>{escape(name)} · {escape(labels[i])}: '
                f"{escape(fmt(v, True))}</title></rect>"
            )
        out.append("</g>")
    step = max(1, math.ceil(n / 12))
    for i in range(0, n, step):
        x = round(PAD_L + (i + 0.5) * slot, 1)
        text = labels[i] if len(labels[i]) <= 12 else labels[i][:11] + "…"
        out.append(
            f'<text x="{x}" y="{bottom + 14}" text-anchor="middle" fill="#6b7280">'
            f"{escape(text)}</text>"
        )
    x = float(PAD_L)
    legend = []
    for gi, (name, _) in enumerate(groups):
        legend.append(
            f'<rect x="{x}" y="23" width="10" height="6" fill="{PALETTE[gi % len(PALETTE)]}"/>'
            f'<text x="{x + 13}" y="29" fill="#374151">{escape(name)}</text>'
        )
        x += 22 + 6.2 * len(name)
    out.append('<g class="legend">' + "".join(legend) + "</g></svg>")
    return "".join(out)
