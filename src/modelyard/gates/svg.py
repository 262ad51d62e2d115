"""Small inline SVG charts for the HTML report: no JavaScript, no CDN, opens offline."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

COLOURS = ("#2563eb", "#f59e0b", "#10b981", "#ef4444")


def _num(v: float) -> str:
    return f"{v:.1f}"


def bars(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    width: int = 560,
    value_max: float | None = None,
) -> str:
    """Horizontal grouped bars: one group per label, one bar per series."""
    n_series = max(len(series), 1)
    bar_h, gap, left, top = 14, 10, 170, 28
    group_h = bar_h * n_series + gap
    height = top + group_h * len(labels) + 24
    values = [v for vs in series.values() for v in vs if v is not None]
    vmax = value_max if value_max is not None else max([abs(v) for v in values] or [1.0])
    vmax = vmax or 1.0
    plot_w = width - left - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f'<text x="4" y="16" class="chart-title">{escape(title)}</text>',
    ]
    for gi, label in enumerate(labels):
        y0 = top + gi * group_h
        parts.append(
            f'<text x="{left - 6}" y="{y0 + bar_h * n_series / 2 + 4}" text-anchor="end">'
            f"{escape(str(label))[:28]}</text>"
        )
        for si, (name, vs) in enumerate(series.items()):
            v = vs[gi] if gi < len(vs) else None
            y = y0 + si * bar_h
            if v is None:
                parts.append(f'<text x="{left + 2}" y="{y + bar_h - 3}" class="muted">n/a</text>')
                continue
            w = max(abs(v) / vmax * plot_w, 0.5)
            parts.append(
                f'<rect x="{left}" y="{y}" width="{_num(w)}" height="{bar_h - 2}" '
                f'fill="{COLOURS[si % len(COLOURS)]}"><title>{escape(name)}: {v:.4g}</title></rect>'
                f'<text x="{_num(left + w + 4)}" y="{y + bar_h - 3}">{v:.3g}</text>'
            )
    if len(series) > 1:
        x = left
        for si, name in enumerate(series):
            parts.append(
                f'<rect x="{x}" y="{height - 14}" width="10" height="10" '
                f'fill="{COLOURS[si % len(COLOURS)]}"/>'
                f'<text x="{x + 14}" y="{height - 5}">{escape(name)}</text>'
            )
            x += 14 + 8 * len(name) + 16
    parts.append("</svg>")
    return "".join(parts)


def reliability(
    curves: dict[str, tuple[Sequence[float], Sequence[float], Sequence[int]]],
    *,
    size: int = 320,
) -> str:
    """Reliability diagram: mean predicted probability vs observed frequency, per bin."""
    pad = 40
    inner = size - 2 * pad

    def px(v: float) -> float:
        return pad + v * inner

    def py(v: float) -> float:
        return size - pad - v * inner

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 120}" height="{size}" '
        'role="img" aria-label="reliability diagram" class="chart">',
        f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="none" stroke="#ccc"/>',
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" stroke="#999" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle">mean predicted probability'
        "</text>",
        f'<text x="12" y="{size / 2}" transform="rotate(-90 12 {size / 2})" '
        'text-anchor="middle">observed frequency</text>',
    ]
    for tick in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{px(tick)}" y="{size - pad + 14}" text-anchor="middle">{tick}</text>'
        )
        parts.append(f'<text x="{pad - 4}" y="{py(tick) + 4}" text-anchor="end">{tick}</text>')
    for si, (name, (pred, obs, counts)) in enumerate(curves.items()):
        colour = COLOURS[si % len(COLOURS)]
        pts = " ".join(f"{_num(px(p))},{_num(py(o))}" for p, o in zip(pred, obs, strict=True))
        if pts:
            parts.append(
                f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for p, o, c in zip(pred, obs, counts, strict=True):
            parts.append(
                f'<circle cx="{_num(px(p))}" cy="{_num(py(o))}" r="3.5" fill="{colour}">'
                f"<title>{escape(name)}: predicted {p:.3f}, observed {o:.3f}, {c} rows</title>"
                "</circle>"
            )
        ly = pad + 16 * si
        parts.append(
            f'<rect x="{size}" y="{ly}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{size + 14}" y="{ly + 9}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
