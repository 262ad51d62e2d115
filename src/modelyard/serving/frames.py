"""The data carriers between the codecs, the validator and the runtimes.

A :class:`Payload` is a decoded but unvalidated request body (``protocol_v1`` /
``protocol_v2`` build it); a :class:`Frame` is validated input in signature order
(``schema.InputSchema.validate`` builds it), the only thing runtimes, the batcher and the
cache accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

PayloadKind = Literal["records", "rows", "columns", "matrix", "tensors"]


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


def _nan_for_none(col: np.ndarray) -> np.ndarray:
    if col.dtype != object:
        return col
    missing = np.fromiter((v is None for v in col), dtype=bool, count=len(col))
    if not missing.any():
        return col
    out = col.copy()
    out[missing] = np.nan
    return out
