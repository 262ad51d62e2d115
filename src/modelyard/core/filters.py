"""Row filters for segments and cohorts: ``age < 25``, ``sex == "Female"``, ``colour in [...]``.

The expression is parsed with :func:`ast.parse` (which never executes anything) and only a
small whitelist of node types is accepted: column names, constants, lists of constants,
comparisons (``== != < <= > >= in not in``, chains like ``18 <= age < 25``) and ``and`` /
``or`` / ``not``. Anything else is refused with the position and what is allowed, so a policy
is validated when the project file loads and evaluated later as a vectorised pandas mask.

A column whose name is not a Python identifier (``hours-per-week``, ``Home Owner``,
``income.total``) is written in backticks, as in pandas' ``query``:
``` `hours-per-week` > 40 ```. Backticks are swapped for placeholder names before parsing (outside
string constants only), so the grammar above stays the whole grammar.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_OPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_CMP: dict[str, Any] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
ALLOWED = (
    "column names (in `backticks` when they hold spaces, hyphens or dots), constants, lists, "
    "== != < <= > >= in / not in, and / or / not"
)
_PLACEHOLDER = "__modelyard_col_{}__"


class FilterSyntaxError(ValueError):
    """A filter expression outside the accepted grammar."""


@dataclass(frozen=True)
class Filter:
    """A parsed, validated filter; ``mask(df)`` evaluates it without ``eval``."""

    text: str
    tree: ast.Expression = field(repr=False, compare=False)
    quoted: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def column(self, name: str) -> str:
        """The column a name in the tree stands for (a placeholder for a backticked name)."""
        return self.quoted.get(name, name)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset(self.column(n.id) for n in ast.walk(self.tree) if isinstance(n, ast.Name))

    def mask(self, df: pd.DataFrame) -> np.ndarray:
        import numpy as np

        missing = sorted(self.columns - {str(c) for c in df.columns})
        if missing:
            raise KeyError(", ".join(missing))
        if self.quoted:  # the tree names placeholders: give the frame those names
            df = df.rename(columns={v: k for k, v in self.quoted.items()})
        out = _eval(self.tree.body, df)
        if isinstance(out, bool):  # a constant expression
            return np.full(len(df), out)
        return np.asarray(out, dtype=bool)


def parse_filter(text: str) -> Filter:
    """Parse ``text`` or raise :class:`FilterSyntaxError` naming the offending part."""
    if not isinstance(text, str) or not text.strip():
        raise FilterSyntaxError("a filter must be a non-empty expression such as `age < 25`")
    source, quoted = _unquote_columns(text.strip())
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise FilterSyntaxError(
            f"cannot parse filter {text!r} at column {exc.offset}: {exc.msg}; allowed: {ALLOWED}"
        ) from None
    _check(tree.body, text)
    return Filter(text.strip(), tree, quoted)


def _unquote_columns(text: str) -> tuple[str, dict[str, str]]:
    """``text`` with each `backticked` column name replaced by a placeholder identifier, and
    the map placeholder -> column name. Backticks inside string constants are left alone."""
    out: list[str] = []
    quoted: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":  # copy a string constant through, escapes included
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif ch == "`":
            end = text.find("`", i + 1)
            name = text[i + 1 : end] if end != -1 else ""
            if end == -1 or not name:
                raise FilterSyntaxError(
                    f"filter {text!r}: a backtick at column {i + 1} opens a column name that "
                    "is never closed or is empty; write it as `hours-per-week`"
                )
            key = next((k for k, v in quoted.items() if v == name), None)
            if key is None:
                key = _PLACEHOLDER.format(len(quoted))
                quoted[key] = name
            out.append(f" {key} ")
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out).strip(), quoted


def _check(node: ast.AST, text: str) -> None:
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, text)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check(node.operand, text)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _OPS:
                raise FilterSyntaxError(
                    f"filter {text!r}: operator {type(op).__name__} is not allowed; "
                    f"allowed: {ALLOWED}"
                )
        operands = [node.left, *node.comparators]
        if not any(isinstance(o, ast.Name) for o in operands):
            raise FilterSyntaxError(
                f"filter {text!r}: a comparison must name a column; a name with spaces, "
                "hyphens or dots goes in backticks: `hours-per-week` > 40"
            )
        for o in operands:
            _check_operand(o, text)
    else:
        raise FilterSyntaxError(
            f"filter {text!r}: {_describe(node)} is not allowed here; expected a comparison "
            f"such as `age < 25` (allowed: {ALLOWED})"
        )


def _check_operand(node: ast.AST, text: str) -> None:
    if isinstance(node, ast.Name):
        return
    if _constant(node) is not _NOT_CONST:
        return
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        for elt in node.elts:
            if _constant(elt) is _NOT_CONST:
                raise FilterSyntaxError(
                    f"filter {text!r}: list items must be constants, got {_describe(elt)}"
                )
        return
    hint = ""
    if isinstance(node, ast.BinOp | ast.Attribute):
        hint = "; a column name with hyphens or dots goes in backticks: `hours-per-week`"
    raise FilterSyntaxError(
        f"filter {text!r}: {_describe(node)} is not allowed; use column names and constants" + hint
    )


_NOT_CONST = object()


def _constant(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and (
        node.value is None or isinstance(node.value, str | int | float | bool)
    ):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int | float)
        and not isinstance(node.operand.value, bool)
    ):
        return -node.operand.value
    return _NOT_CONST


def _describe(node: ast.AST) -> str:
    try:
        return f"`{ast.unparse(node)}` ({type(node).__name__})"
    except Exception:  # pragma: no cover - unparse handles every parsed node
        return type(node).__name__


def _value(node: ast.AST, df: pd.DataFrame) -> Any:
    if isinstance(node, ast.Name):
        return df[node.id]
    const = _constant(node)
    if const is not _NOT_CONST:
        return const
    assert isinstance(node, ast.List | ast.Tuple | ast.Set)
    return [_constant(e) for e in node.elts]


def _compare(left: Any, op: str, right: Any) -> Any:
    import pandas as pd

    if op in ("in", "not in"):
        if not isinstance(left, pd.Series):
            raise FilterSyntaxError("the left side of `in` must be a column")
        values = right if isinstance(right, list) else [right]
        hit = left.isin(values)
        return ~hit if op == "not in" else hit
    if right is None or left is None:
        series = left if isinstance(left, pd.Series) else right
        na = series.isna()
        if op == "==":
            return na
        if op == "!=":
            return ~na
        raise FilterSyntaxError(f"`{op} None` is not defined; use == None or != None")
    if isinstance(left, pd.Series):
        result = _CMP[op](left, right)
    else:  # constant on the left: flip the operator
        flipped = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
        return _compare(right, flipped, left)
    return result.fillna(False).astype(bool) if hasattr(result, "fillna") else result


def _eval(node: ast.AST, df: pd.DataFrame) -> Any:
    import numpy as np

    if isinstance(node, ast.BoolOp):
        parts = [np.asarray(_eval(v, df), dtype=bool) for v in node.values]
        fn = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        out = parts[0]
        for p in parts[1:]:
            out = fn(out, p)
        return out
    if isinstance(node, ast.UnaryOp):
        return ~np.asarray(_eval(node.operand, df), dtype=bool)
    assert isinstance(node, ast.Compare)
    operands = [_value(node.left, df)] + [_value(c, df) for c in node.comparators]
    out = np.ones(len(df), dtype=bool)
    for i, op in enumerate(node.ops):
        part = _compare(operands[i], _OPS[type(op)], operands[i + 1])
        out &= np.asarray(part, dtype=bool)
    return out
