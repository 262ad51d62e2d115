"""Input validation compiled once per model version from its signature.

A request's decoded body (a :class:`Payload`: records, rows, columns or a typed matrix) is
checked against the compiled :class:`InputSchema` and becomes a :class:`Frame`, the only thing
runtimes accept. Valid numeric rows take a fast path (one type check per value, one NumPy
conversion); anything unusual falls to the slow path, which exists to name the exact field,
the rule and the value received (the request's shape here, each column's values in
``columns``). Every refusal is an ``InvalidInput`` (422) — never a 5xx.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelyard.core.errors import InvalidInput
from modelyard.core.input_policy import Effective, effective
from modelyard.serving.columns import (
    INTEGER,
    KINDS,
    Column,
    check_array,
    convert,
    expect,
    names_text,
    value_text,
    whole_int64,
)
from modelyard.serving.errors import PayloadTooLarge
from modelyard.serving.frames import Frame, Payload

_NUM = frozenset({float, int})


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
            if kind not in KINDS:
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
                parts.append(f"missing {what}s {names_text(missing)}")
            if extra:
                parts.append(f"unexpected {what}s {names_text(extra)}")
            raise InvalidInput(
                f"{where}: " + "; ".join(parts) + f"; the model expects {self.width} "
                f"{what}s: {names_text(self.names)}",
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
                    f"({names_text(self.names, 5)}) or an object keyed by feature name, "
                    f"got {value_text(row)}"
                )
            if len(row) != self.width:
                raise InvalidInput(
                    f"{where}[{i}]: expected {self.width} values (shape [n, {self.width}]) "
                    f"in the order {names_text(self.names, 5)}, got {len(row)}",
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
                    f"{where}[{i}]: expected an object keyed by feature name, got {value_text(rec)}"
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
                arrays.append(check_array(col, vals, where))
            else:
                if not isinstance(vals, list):
                    raise InvalidInput(
                        f"{where}.{col.name}: expected a list of values, got {value_text(vals)}"
                    )
                arrays.append(convert(col, vals, where, fmt))
        if self.numeric:
            matrix = np.column_stack([a.astype(np.float64, copy=False) for a in arrays])
            return Frame(n, self.names, matrix=matrix)
        return Frame(n, self.names, columns=tuple(arrays))

    def _from_matrix(self, matrix: np.ndarray, where: str) -> Frame:
        if matrix.ndim != 2 or matrix.shape[1] != self.width:
            raise InvalidInput(
                f"{where}: expected shape [n, {self.width}] (columns in signature order: "
                f"{names_text(self.names, 5)}), got {list(matrix.shape)}",
                expected_shape=[-1, self.width],
            )
        if not self.numeric:
            other = [c.name for c in self.columns if c.kind not in ("float", "integer")]
            raise InvalidInput(
                f"{where}: this model has non-numeric inputs ({names_text(other)})"
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
                        f"{where}[{i}].{col.name}: expected {expect(col)}, got {v}",
                        field=col.name,
                    )
        for j, col in enumerate(self.columns):
            if col.kind == "integer":
                c = values[:, j]
                ok = np.isnan(c) | whole_int64(c)
                if not ok.all():
                    i = int(np.argmin(ok))
                    raise InvalidInput(
                        f"{where}[{i}].{col.name}: expected {INTEGER}, got {float(c[i])}",
                        field=col.name,
                    )
        return Frame(int(matrix.shape[0]), self.names, matrix=np.ascontiguousarray(values))


def _columns_length(data: dict[str, Any], where: str) -> int:
    lengths = {k: len(v) for k, v in data.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}: {n}" for k, n in sorted(lengths.items())[:6])
        raise InvalidInput(f"{where}: every column needs the same number of rows; got {desc}")
    return next(iter(lengths.values()), 0)
