"""Input validation compiled once per model version from its signature.

A request's decoded body (a :class:`Payload`: records, rows, columns or a typed matrix) is
checked against the compiled :class:`InputSchema` and becomes a :class:`Frame`, the only thing
runtimes accept. Valid numeric rows take a fast path (one type check per value, one NumPy
conversion); anything unusual falls to the slow path, which exists to name the exact field,
the rule and the value received. Every refusal is an ``InvalidInput`` (422) — never a 5xx.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from modelyard.core.errors import InvalidInput
from modelyard.core.input_policy import Effective, effective
from modelyard.serving.errors import PayloadTooLarge

PayloadKind = Literal["records", "rows", "columns", "matrix", "tensors"]
_NUM = frozenset({float, int})
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INTEGER = "an integer within the 64-bit range"
_KINDS = ("float", "integer", "boolean", "string", "datetime")
_EXPECT = {
    "float": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "string": "a string",
    "datetime": "an ISO-8601 date-time string",
}


@dataclass(frozen=True)
class Payload:
    """A decoded but unvalidated request body.

    ``records``: list of {name: value}; ``rows``: list of lists in signature order;
    ``columns``: {name: list | 1-D ndarray}; ``matrix``: 2-D ndarray in signature order;
    ``tensors``: [(name, ndarray)] as V2 sends them (per column, or one 2-D tensor).
    ``where`` names its place in the request for error messages (``instances``, ``inputs``).
    """

    kind: PayloadKind
    data: Any
    where: str

    def first_value(self, name: str, position: int | None) -> Any:
        """The first row's value of a field (segment rules read it), or None."""
        try:
            if self.kind == "records":
                return self.data[0].get(name)
            if self.kind == "columns":
                col = self.data.get(name)
                return None if col is None or len(col) == 0 else _plain(col[0])
            if self.kind == "tensors":
                for tname, arr in self.data:
                    if tname == name:
                        return _plain(arr.reshape(-1)[0])
                if len(self.data) == 1 and position is not None:
                    return _plain(self.data[0][1][0][position])
                return None
            if position is None:
                return None
            return _plain(self.data[0][position])
        except (IndexError, KeyError, TypeError, AttributeError):
            return None


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value.item() if hasattr(value, "item") else value


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


@dataclass
class Frame:
    """Validated input: ``n`` rows over the schema's columns, in signature order.

    Numeric-only schemas carry one float64 ``matrix`` (n, d); mixed schemas carry one array
    per column. Runtimes ask for the form they need; nothing here is re-validated.
    """

    n: int
    names: tuple[str, ...]
    matrix: np.ndarray | None = None
    columns: tuple[np.ndarray, ...] | None = None
    _key: bytes | None = field(default=None, repr=False)

    def as_matrix(self) -> np.ndarray:
        if self.matrix is not None:
            return self.matrix
        assert self.columns is not None
        return np.column_stack([np.asarray(c, dtype=np.float64) for c in self.columns])

    def as_dataframe(self) -> Any:
        """The rows as the model reads them. A missing string is NaN, as pandas reads it from
        CSV or Parquet (the training data): an imputer with ``missing_values=np.nan`` would
        leave a ``None`` alone, and the model would answer another question."""
        import pandas as pd

        if self.matrix is not None:
            return pd.DataFrame(self.matrix, columns=list(self.names), copy=False)
        assert self.columns is not None
        cols = [_nan_for_none(c) for c in self.columns]
        return pd.DataFrame(dict(zip(self.names, cols, strict=True)), copy=False)

    def key(self) -> bytes:
        """Canonical bytes of the input: equal inputs give equal keys (the cache uses it)."""
        if self._key is None:
            if self.matrix is not None:
                self._key = b"m%d|" % self.n + self.matrix.tobytes()
            else:
                import orjson

                assert self.columns is not None
                self._key = b"c|" + orjson.dumps([c.tolist() for c in self.columns], default=str)
        return self._key

    def records(self) -> list[dict[str, Any]]:
        if self.matrix is not None:
            return [dict(zip(self.names, row, strict=True)) for row in self.matrix.tolist()]
        assert self.columns is not None
        cols = [c.tolist() for c in self.columns]
        return [dict(zip(self.names, vals, strict=True)) for vals in zip(*cols, strict=True)]

    @staticmethod
    def concat(frames: Sequence[Frame]) -> Frame:
        if len(frames) == 1:
            return frames[0]
        first = frames[0]
        n = sum(f.n for f in frames)
        if first.matrix is not None:
            return Frame(n, first.names, matrix=np.concatenate([f.as_matrix() for f in frames]))
        cols = tuple(
            np.concatenate([f.columns[j] for f in frames if f.columns is not None])
            for j in range(len(first.names))
        )
        return Frame(n, first.names, columns=cols)


class InputSchema:
    """The signature's inputs, compiled: names, positions, kinds and per-column checkers."""

    def __init__(
        self,
        columns: Sequence[Column],
        extra_fields: str = "reject",
        tolerated: frozenset[str] = frozenset(),
    ) -> None:
        if not columns:
            raise InvalidInput("a model signature needs at least one input column")
        self.extra_fields = extra_fields  # reject | ignore (core.input_policy)
        #: fields outside the signature dropped even when extra fields are refused: those of
        #: the other versions on the same endpoint
        self.tolerated = frozenset(tolerated) - {c.name for c in columns}
        self.columns = tuple(columns)
        self.names = tuple(c.name for c in columns)
        self.width = len(columns)
        self.position = {c.name: i for i, c in enumerate(columns)}
        self.name_set = frozenset(self.names)
        # one tuple of values per record, in signature order, extracted in C
        self.getter = (
            operator.itemgetter(*self.names)
            if self.width > 1
            else (lambda rec, n=self.names[0]: (rec[n],))
        )
        self.numeric = all(c.kind in ("float", "integer") for c in columns)
        # the fast path: numeric, nothing nullable, no categories
        self.fast = all(c.kind == "float" and not c.nullable for c in columns)
        self.pii = frozenset(c.name for c in columns if c.pii)

    @classmethod
    def from_signature(
        cls,
        signature: dict[str, Any],
        n_features: int | None = None,
        policy: Effective | None = None,
    ) -> InputSchema:
        """Compile the signature's inputs; ``policy`` (default: the one the signature
        records) says what unseen categories and extra fields do."""
        policy = policy or effective(signature)
        inputs = signature.get("inputs") or []
        if not inputs and n_features:
            # no recorded signature: the model's own width, unnamed float features
            return cls([Column(f"f{i}", "float") for i in range(n_features)])
        cols = []
        for spec in inputs:
            kind = str(spec.get("type", "float"))
            if kind not in _KINDS:
                kind = "string"
            cats = spec.get("categories")
            cols.append(
                Column(
                    name=str(spec["name"]),
                    kind=kind,
                    nullable=bool(spec.get("nullable", False)),
                    categories=frozenset(str(c) for c in cats) if cats else None,
                    pii=bool(spec.get("pii", False)),
                    unseen=policy.unseen_categories,
                )
            )
        return cls(cols, policy.extra_fields)

    def describe(self) -> list[dict[str, Any]]:
        return [c.describe() for c in self.columns]

    def tolerating(self, names: frozenset[str]) -> InputSchema:
        """This schema, also dropping the fields ``names`` (itself when nothing changes)."""
        extra = frozenset(names) - self.name_set
        if not extra or extra <= self.tolerated:
            return self
        return InputSchema(self.columns, self.extra_fields, self.tolerated | extra)

    # ---- entry ---------------------------------------------------------------------------
    def validate(self, payload: Payload, max_rows: int) -> Frame:
        if payload.kind == "tensors":
            payload = self._from_tensors(payload)
        data, where = payload.data, payload.where
        n = len(data) if payload.kind != "columns" else _columns_length(data, where)
        if payload.kind == "matrix":
            n = int(data.shape[0]) if data.ndim >= 1 else 0
        if n == 0:
            raise InvalidInput(f"{where}: no rows; expected at least one instance")
        if n > max_rows:
            raise PayloadTooLarge(
                f"{where}: {n} rows exceed this endpoint's limit of {max_rows} rows per request",
                hint="split the request",
            )
        if payload.kind == "rows":
            if self.fast:
                frame = self._fast_rows(data)
                if frame is not None:
                    return frame
            return self._from_columns(self._columns_of_rows(data, where), n, where, "[{i}]")
        if payload.kind == "records":
            if self.fast:
                frame = self._fast_records(data)
                if frame is not None:
                    return frame
            return self._from_columns(self._columns_of_records(data, where), n, where, "[{i}]")
        if payload.kind == "columns":
            self._check_names(data.keys(), where, "tensor")
            return self._from_columns([data[c] for c in self.names], n, where, ".{name}[{i}]")
        return self._from_matrix(data, where)

    def _from_tensors(self, payload: Payload) -> Payload:
        tensors: list[tuple[str, np.ndarray]] = payload.data
        if len(tensors) == 1:
            name, arr = tensors[0]
            if name not in self.name_set and (arr.ndim == 2 or self.width == 1):
                if arr.ndim == 1:
                    arr = arr.reshape(-1, 1)
                return Payload("matrix", arr, f"{payload.where}[0] ({name!r})")
        return Payload("columns", dict(tensors), payload.where)

    # ---- fast paths: valid numeric input, no per-column work --------------------------------
    # Type checks run in C (``map(type, row)`` into ``frozenset.issuperset``). Rows decoded from
    # JSON are always finite (the parser refuses NaN, Infinity and out-of-range numbers), so no
    # finiteness pass is needed here; typed tensors go through ``_from_matrix``, which checks.
    def _fast_rows(self, rows: list[Any]) -> Frame | None:
        width, is_num = self.width, _NUM.issuperset
        for row in rows:
            if type(row) is not list or len(row) != width or not is_num(map(type, row)):
                return None
        try:
            matrix = np.array(rows, dtype=np.float64)
        except (OverflowError, ValueError):
            return None
        return Frame(len(rows), self.names, matrix=matrix)

    def _fast_records(self, records: list[Any]) -> Frame | None:
        name_set, get, is_num = self.name_set, self.getter, _NUM.issuperset
        rows = []
        for rec in records:
            if type(rec) is not dict or rec.keys() != name_set:  # extra fields: slow path
                return None
            row = get(rec)
            if not is_num(map(type, row)):
                return None
            rows.append(row)
        try:
            matrix = np.array(rows, dtype=np.float64)
        except (OverflowError, ValueError):
            return None
        return Frame(len(rows), self.names, matrix=matrix)

    # ---- slow path: exact messages ------------------------------------------------------
    def _check_names(self, keys: Any, where: str, what: str) -> None:
        keys = set(keys)
        missing = [n for n in self.names if n not in keys]
        extra = sorted(str(k) for k in keys - self.name_set - self.tolerated)
        if self.extra_fields == "ignore":
            extra = []
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {what}s {_names(missing)}")
            if extra:
                parts.append(f"unexpected {what}s {_names(extra)}")
            raise InvalidInput(
                f"{where}: " + "; ".join(parts) + f"; the model expects {self.width} "
                f"{what}s: {_names(self.names)}",
                expected=list(self.names),
            )

    def _columns_of_rows(self, rows: list[Any], where: str) -> list[list[Any]]:
        cols: list[list[Any]] = [[] for _ in self.names]
        for i, row in enumerate(rows):
            if not isinstance(row, list):
                if isinstance(row, dict):
                    raise InvalidInput(
                        f"{where}[{i}]: mixes records and lists; send every instance in the "
                        "same form"
                    )
                raise InvalidInput(
                    f"{where}[{i}]: expected a list of {self.width} values in signature order "
                    f"({_names(self.names, 5)}) or an object keyed by feature name, "
                    f"got {_type(row)}"
                )
            if len(row) != self.width:
                raise InvalidInput(
                    f"{where}[{i}]: expected {self.width} values (shape [n, {self.width}]) "
                    f"in the order {_names(self.names, 5)}, got {len(row)}",
                    expected_shape=[-1, self.width],
                )
            for j, v in enumerate(row):
                cols[j].append(v)
        return cols

    def _columns_of_records(self, records: list[Any], where: str) -> list[list[Any]]:
        cols: list[list[Any]] = [[] for _ in self.names]
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise InvalidInput(
                    f"{where}[{i}]: expected an object keyed by feature name, got {_type(rec)}"
                )
            if rec.keys() != self.name_set and (
                not self.name_set <= rec.keys()
                or (
                    self.extra_fields != "ignore"
                    and not rec.keys() - self.name_set <= self.tolerated
                )
            ):
                self._check_names(rec.keys(), f"{where}[{i}]", "field")
            for j, name in enumerate(self.names):
                cols[j].append(rec[name])
        return cols

    def _from_columns(self, values: list[Any], n: int, where: str, fmt: str) -> Frame:
        arrays = []
        for col, vals in zip(self.columns, values, strict=True):
            if isinstance(vals, np.ndarray):
                arrays.append(_check_array(col, vals, where))
            else:
                if not isinstance(vals, list):
                    raise InvalidInput(
                        f"{where}.{col.name}: expected a list of values, got {_type(vals)}"
                    )
                arrays.append(_convert(col, vals, where, fmt))
        if self.numeric:
            matrix = np.column_stack([a.astype(np.float64, copy=False) for a in arrays])
            return Frame(n, self.names, matrix=matrix)
        return Frame(n, self.names, columns=tuple(arrays))

    def _from_matrix(self, matrix: np.ndarray, where: str) -> Frame:
        if matrix.ndim != 2 or matrix.shape[1] != self.width:
            raise InvalidInput(
                f"{where}: expected shape [n, {self.width}] (columns in signature order: "
                f"{_names(self.names, 5)}), got {list(matrix.shape)}",
                expected_shape=[-1, self.width],
            )
        if not self.numeric:
            raise InvalidInput(
                f"{where}: this model has non-numeric inputs "
                f"({_names([c.name for c in self.columns if c.kind not in ('float', 'integer')])})"
                "; send one tensor per input column, named as in the model metadata"
            )
        if matrix.dtype.kind not in "fiu":
            raise InvalidInput(
                f"{where}: expected a numeric tensor (FP32, FP64, INT32 or INT64), "
                f"got {matrix.dtype.name}"
            )
        values = matrix.astype(np.float64, copy=False)
        finite = np.isfinite(values)
        if not finite.all():
            for j, col in enumerate(self.columns):
                bad = ~finite[:, j]
                if not bad.any():
                    continue
                i = int(np.argmax(bad))
                v = float(values[i, j])
                if not (math.isnan(v) and col.nullable):
                    raise InvalidInput(
                        f"{where}[{i}].{col.name}: expected {_expect(col)}, got {v}",
                        field=col.name,
                    )
        for j, col in enumerate(self.columns):
            if col.kind == "integer":
                c = values[:, j]
                ok = np.isnan(c) | _whole_int64(c)
                if not ok.all():
                    i = int(np.argmin(ok))
                    raise InvalidInput(
                        f"{where}[{i}].{col.name}: expected {_INTEGER}, got {float(c[i])}",
                        field=col.name,
                    )
        return Frame(int(matrix.shape[0]), self.names, matrix=np.ascontiguousarray(values))


def _whole_int64(values: np.ndarray) -> np.ndarray:
    """Which floats are whole numbers that an int64 holds (1e300 is whole, and is not)."""
    with np.errstate(invalid="ignore"):
        whole: np.ndarray = values == np.round(values)
        return whole & (values >= _INT64_MIN) & (values < _INT64_MAX)


def _nan_for_none(col: np.ndarray) -> np.ndarray:
    if col.dtype != object:
        return col
    missing = np.fromiter((v is None for v in col), dtype=bool, count=len(col))
    if not missing.any():
        return col
    out = col.copy()
    out[missing] = np.nan
    return out


def _columns_length(data: dict[str, Any], where: str) -> int:
    lengths = {k: len(v) for k, v in data.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}: {n}" for k, n in sorted(lengths.items())[:6])
        raise InvalidInput(f"{where}: every column needs the same number of rows; got {desc}")
    return next(iter(lengths.values()), 0)


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _names(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _type(v: Any) -> str:
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


def _expect(col: Column) -> str:
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
        f"{label}: expected {why or _expect(col)}, got {_type(v)}", field=col.name, row=i
    )


def _convert(col: Column, vals: list[Any], where: str, fmt: str) -> np.ndarray:
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
                    raise _bad(col, where, fmt, i, v, _INTEGER)
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
                        f"{v[:40]!r}; expected one of {_names(sorted(cats), 12)}",
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


def _check_array(col: Column, arr: np.ndarray, where: str) -> np.ndarray:
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
            frac = ~np.isnan(vals) & ~_whole_int64(vals)
            if frac.any():
                i = int(np.argmax(frac))
                raise _bad(col, where, ".{name}[{i}]", i, float(vals[i]), _INTEGER)
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
    return _convert(col, texts, where, ".{name}[{i}]")
