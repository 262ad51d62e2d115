"""Reading tables and putting them in one canonical form, so equal data hashes equally.

The content hash is computed per row (pandas' stable row hash with a fixed key) and fed to
SHA-256 in row order, so it is the same however the rows were chunked and whichever file
format (CSV, Parquet, DataFrame) carried them. Column names and canonical types are hashed too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.core.errors import InvalidInput, NotFound

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".tsv": "tsv"}
_HASH_KEY = "modelyard-rows-1"  # fixed 16-byte key: hashes stay stable across processes
_CHUNK = 262_144


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise NotFound(f"no such file: {path}")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"cannot read {path.name}: unsupported format {path.suffix or '(none)'!r}",
            hint=f"expected one of {', '.join(sorted(FORMATS))}",
        )
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", low_memory=False)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InvalidInput(f"cannot read {path} as {fmt}: {exc}") from None


def canonical_kind(series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def canonicalise(df: pd.DataFrame) -> pd.DataFrame:
    """Same data, same dtypes: int64 / float64 / bool / datetime64[ns, UTC] / object strings."""
    if df.columns.has_duplicates:
        dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise InvalidInput(f"duplicate column names: {', '.join(dupes)}")
    out: dict[str, Any] = {}
    for col in df.columns:
        s = df[col]
        name = str(col)
        kind = canonical_kind(s)
        if kind == "integer":
            out[name] = s.astype("float64") if s.isna().any() else s.astype("int64")
        elif kind == "float":
            out[name] = s.astype("float64")
        elif kind == "boolean":
            out[name] = s.astype("float64") if s.isna().any() else s.astype(bool)
        elif kind == "datetime":
            s = pd.to_datetime(s, utc=True)
            out[name] = s.astype("datetime64[ns, UTC]")
        else:
            values = s.astype(object)
            out[name] = values.where(values.notna(), None).map(
                lambda v: v if v is None or isinstance(v, str) else str(v)
            )
    return pd.DataFrame(out).reset_index(drop=True)


def content_hash(df: pd.DataFrame) -> str:
    """SHA-256 over column names, canonical kinds and per-row hashes (chunking-independent)."""
    h = hashlib.sha256()
    for col in df.columns:
        h.update(f"{col}\x1f{canonical_kind(df[col])}\x1e".encode())
    h.update(f"rows={len(df)}\x1d".encode())
    for start in range(0, len(df), _CHUNK):
        chunk = df.iloc[start : start + _CHUNK]
        for col in df.columns:
            values = pd.util.hash_pandas_object(chunk[col], index=False, hash_key=_HASH_KEY)
            h.update(np.ascontiguousarray(values.to_numpy(dtype=np.uint64)).tobytes())
    return h.hexdigest()


def to_parquet_bytes(df: pd.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    df.to_parquet(buf, index=False, compression="zstd")
    return buf.getvalue()


def from_parquet_bytes(data: bytes) -> pd.DataFrame:
    import io

    return pd.read_parquet(io.BytesIO(data))
