"""One input column of a signature: its spec (:class:`Column`) and the check-and-convert of
its values — a JSON list or a typed V2 tensor — into one array.

Every refusal is an ``InvalidInput`` (422) whose message names the field, the row, the rule
and the value received; ``schema.InputSchema`` calls these on its slow path and shares the
wording helpers (``names_text``, ``value_text``, ``expect``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.core.errors import InvalidInput

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
INTEGER = "an integer within the 64-bit range"
KINDS = ("float", "integer", "boolean", "string", "datetime")
_EXPECT = {
    "float": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "string": "a string",
    "datetime": "an ISO-8601 date-time string",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    nullable: bool = False
    categories: frozenset[str] | None = None
    pii: bool = False
    unseen: str = "reject"  # reject | pass | as_missing (core.input_policy)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.kind, "nullable": self.nullable}
        if self.categories is not None:
            out["categories"] = sorted(self.categories)
        if self.pii:
            out["pii"] = True
        return out


def whole_int64(values: np.ndarray) -> np.ndarray:
    """Which floats are whole numbers that an int64 holds (1e300 is whole, and is not)."""
    with np.errstate(invalid="ignore"):
        whole: np.ndarray = values == np.round(values)
        return whole & (values >= _INT64_MIN) & (values < _INT64_MAX)


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def names_text(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def value_text(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, str):
        return f"string {v[:40]!r}"
    if isinstance(v, int | float):
        return f"number {v!r}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def expect(col: Column) -> str:
    text = _EXPECT[col.kind]
    if col.kind == "float":
        text = "a finite number" + (" or null" if col.nullable else " (NaN is not allowed)")
    elif col.nullable:
        text += " or null"
    return text


def _bad(col: Column, where: str, fmt: str, i: int, v: Any, why: str | None = None) -> InvalidInput:
    place = where + fmt.format(i=i, name=col.name)
    label = place if "{name}" in fmt else f"{place}.{col.name}"
    return InvalidInput(
        f"{label}: expected {why or expect(col)}, got {value_text(v)}", field=col.name, row=i
    )


def convert(col: Column, vals: list[Any], where: str, fmt: str) -> np.ndarray:
    kind, nullable = col.kind, col.nullable
    if kind in ("float", "integer"):
        out = np.empty(len(vals), dtype=np.float64)
        for i, v in enumerate(vals):
            t = type(v)
            if t is int:
                if not _INT64_MIN <= v <= _INT64_MAX:
                    raise _bad(col, where, fmt, i, v, "a number within 64-bit range")
                out[i] = v
            elif t is float:
                if not math.isfinite(v):
                    raise _bad(col, where, fmt, i, v)
                if kind == "integer" and not (v.is_integer() and _INT64_MIN <= v < _INT64_MAX):
                    raise _bad(col, where, fmt, i, v, INTEGER)
                out[i] = v
            elif v is None and nullable:
                out[i] = math.nan
            else:
                raise _bad(col, where, fmt, i, v)
        if kind == "integer" and not np.isnan(out).any():
            return out.astype(np.int64)
        return out
    if kind == "boolean":
        for i, v in enumerate(vals):
            if type(v) is not bool and not (v is None and nullable):
                raise _bad(col, where, fmt, i, v)
        return np.array(vals, dtype=bool if None not in vals else object)
    if kind == "string":
        cats = col.categories
        for i, v in enumerate(vals):
            if type(v) is str:
                if cats is not None and v not in cats:
                    if col.unseen == "pass":
                        continue
                    if col.unseen == "as_missing":
                        vals[i] = None
                        continue
                    raise InvalidInput(
                        f"{where}{fmt.format(i=i, name=col.name)}"
                        f"{'' if '{name}' in fmt else '.' + col.name}: unknown category "
                        f"{v[:40]!r}; expected one of {names_text(sorted(cats), 12)}",
                        field=col.name,
                        row=i,
                    )
            elif not (v is None and nullable):
                raise _bad(col, where, fmt, i, v)
        arr = np.empty(len(vals), dtype=object)
        arr[:] = vals
        return arr
    # datetime
    parsed: list[Any] = []
    for i, v in enumerate(vals):
        if v is None and nullable:
            parsed.append(None)
            continue
        if type(v) is not str:
            raise _bad(col, where, fmt, i, v)
        try:
            ts = dt.datetime.fromisoformat(v)
        except ValueError:
            raise _bad(col, where, fmt, i, v) from None
        parsed.append(ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC))
    import pandas as pd

    return np.asarray(pd.to_datetime(pd.Series(parsed, dtype=object), utc=True))


def check_array(col: Column, arr: np.ndarray, where: str) -> np.ndarray:
    """A typed tensor (V2) for one column: check its datatype and values."""
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidInput(
            f"{where}.{col.name}: expected shape [n] or [n, 1], got {list(arr.shape)}",
            field=col.name,
        )
    kind = arr.dtype.kind
    if col.kind in ("float", "integer"):
        if kind not in "fiu":
            raise InvalidInput(
                f"{where}.{col.name}: expected a numeric tensor for {_a(col.kind)} column, "
                f"got {arr.dtype.name}",
                field=col.name,
            )
        vals = arr.astype(np.float64)
        bad = ~np.isfinite(vals)
        if col.nullable:
            bad &= ~np.isnan(vals)
        if bad.any():
            i = int(np.argmax(bad))
            raise _bad(col, where, ".{name}[{i}]", i, float(vals[i]))
        if col.kind == "integer" and kind == "f":
            frac = ~np.isnan(vals) & ~whole_int64(vals)
            if frac.any():
                i = int(np.argmax(frac))
                raise _bad(col, where, ".{name}[{i}]", i, float(vals[i]), INTEGER)
        return vals if col.kind == "float" or kind == "f" else arr.astype(np.int64)
    if col.kind == "boolean":
        if kind != "b":
            raise InvalidInput(
                f"{where}.{col.name}: expected a BOOL tensor, got {arr.dtype.name}",
                field=col.name,
            )
        return arr
    if kind not in "OSU":
        raise InvalidInput(
            f"{where}.{col.name}: expected a BYTES tensor for {_a(col.kind)} column, "
            f"got {arr.dtype.name}",
            field=col.name,
        )
    texts: list[Any] = []
    for i, v in enumerate(arr.tolist()):
        if isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(
                    f"{where}.{col.name}[{i}]: expected UTF-8 text", field=col.name, row=i
                ) from None
        texts.append(v)
    return convert(col, texts, where, ".{name}[{i}]")
