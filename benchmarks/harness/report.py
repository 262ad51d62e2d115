"""Report printing: numbers with a dash for the missing, plain-text tables, ratios."""

from __future__ import annotations


def fmt_num(v: float | None, spec: str = ",.0f") -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[list[str]], right: set[int], rules: frozenset[int] = frozenset()) -> str:
    """``rows[0]`` is the header, underlined; columns in ``right`` are right-aligned; a rule is
    drawn again before each row index in ``rules``."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    rule = "  ".join("-" * w for w in widths)
    out = []
    for n, r in enumerate(rows):
        if n in rules:
            out.append(rule)
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append(rule)
    return "\n".join(out)


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing (or ``b`` is zero)."""
    return a / b if a is not None and b else None
