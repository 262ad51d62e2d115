"""Where the Parquet prediction log lives: ``BASE/endpoint=E/date=YYYY-MM-DD/hour=HH/
part-*.parquet``, in a local folder or behind an fsspec URL (``s3://…``). Written by
``serving.predlog``, read back by ``store.prediction_log`` and ``monitoring.outofcore``."""

from __future__ import annotations

import datetime as dt
import glob
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def filesystem(url: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    """(fsspec filesystem or None for a local folder, base path without a trailing slash)."""
    if "://" not in url or url.startswith("file://"):
        return None, url.removeprefix("file://").rstrip("/")
    import fsspec

    fs, base = fsspec.core.url_to_fs(url, **dict(options))
    return fs, str(base).rstrip("/")


def parquet_files(
    url: str,
    endpoint: str,
    options: Mapping[str, Any] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> tuple[Any, list[str]]:
    """(filesystem or None, the Parquet files of an endpoint, in partition order), pruned on
    the date partition (``since`` inclusive, ``until`` exclusive) before any file is listed
    or opened."""
    fs, base = filesystem(url, options or {})
    root = f"{base}/endpoint={endpoint}"
    if fs is None:
        if not Path(root).is_dir():
            return None, []
        days = sorted(p.name for p in Path(root).iterdir() if p.name.startswith("date="))
    else:
        if not fs.exists(root):
            return fs, []
        days = sorted(str(p).rsplit("/", 1)[-1] for p in fs.ls(root, detail=False))
    files: list[str] = []
    for day in days:
        try:
            d = dt.date.fromisoformat(day.removeprefix("date="))
        except ValueError:
            continue
        if (since is not None and d < since) or (until is not None and d >= until):
            continue
        pattern = f"{root}/{day}/hour=*/part-*.parquet"
        found = glob.glob(pattern) if fs is None else fs.glob(pattern)
        files.extend(sorted(str(f) for f in found))
    return fs, files
