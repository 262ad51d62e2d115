"""The lineage graph drawn on the server as SVG: data → run → version → reports / deployments."""

from __future__ import annotations

from html import escape
from typing import Any

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 210, 46, 70, 14, 16
COLOURS = {
    "data": "#e0f2fe",
    "run": "#ede9fe",
    "version": "#dcfce7",
    "report": "#fef3c7",
    "deploy": "#fee2e2",
}


def _box(x: float, y: float, kind: str, title: str, sub: str) -> str:
    return (
        f'<g class="node node-{kind}"><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" '
        f'rx="6" fill="{COLOURS[kind]}" stroke="#94a3b8"/>'
        f'<text x="{x + 10}" y="{y + 19}" font-size="13" font-weight="600">{escape(title)}</text>'
        f'<text x="{x + 10}" y="{y + 36}" font-size="11" fill="#475569">{escape(sub)}</text></g>'
    )


def _edge(x1: float, y1: float, x2: float, y2: float) -> str:
    mid = (x1 + x2) / 2
    return (
        f'<path d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" fill="none" stroke="#64748b" '
        f'stroke-width="1.4" marker-end="url(#arrow)"/>'
    )


def render(graph: dict[str, Any]) -> str:
    mv = graph["model_version"]
    columns: list[list[tuple[str, str, str]]] = [
        [
            ("data", d["ref"], f"{d['role']} · {d['rows']:,} rows · {d['digest'][:10]}")
            for d in graph["datasets"]
        ],
        [
            (
                "run",
                f"run {graph['run']['id'][:10]}",
                f"{graph['run']['status']} · by {graph['run']['created_by']}",
            )
        ]
        if graph["run"]
        else [],
        [("version", mv["ref"], f"{mv['state']} · {mv['flavor']} · {mv['artifact_digest'][:10]}")],
        [
            (
                "report",
                f"{r['kind']} report #{r['id']}",
                "pass" if r["passed"] else "fail" if r["passed"] is False else "—",
            )
            for r in graph["reports"]
        ]
        + [
            ("deploy", d["endpoint"], f"{d['role']} · {d['weight']:.0%}")
            for d in graph["deployments"]
        ],
    ]
    columns = [c for c in columns if c]
    height = max(len(c) for c in columns) * (BOX_H + GAP_Y) - GAP_Y + 2 * PAD
    width = len(columns) * (BOX_W + GAP_X) - GAP_X + 2 * PAD
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage-graph" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#64748b"/></marker>'
        "</defs>",
    ]
    centres: list[list[tuple[float, float]]] = []
    for ci, col in enumerate(columns):
        x = PAD + ci * (BOX_W + GAP_X)
        top = (height - (len(col) * (BOX_H + GAP_Y) - GAP_Y)) / 2
        centres.append([])
        for ri, (kind, title, sub) in enumerate(col):
            y = top + ri * (BOX_H + GAP_Y)
            parts.append(_box(x, y, kind, title, sub))
            centres[ci].append((x, y + BOX_H / 2))
    for ci in range(1, len(centres)):
        for x1, y1 in centres[ci - 1]:
            for x2, y2 in centres[ci]:
                parts.append(_edge(x1 + BOX_W, y1, x2, y2))
    parts.append("</svg>")
    return "".join(parts)
