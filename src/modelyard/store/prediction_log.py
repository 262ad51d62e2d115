"""Reading the prediction log back, offline: every logged prediction of an endpoint.

The server writes the log (:mod:`modelyard.serving.predlog`): JSON lines under the project
state (``ENDPOINT/DAY/*.jsonl``, each line sealed with the keyring when one is configured) and,
for ``format: parquet`` endpoints, Hive-partitioned Parquet at the prediction-log location
(:mod:`modelyard.store.parquet_log`). The readers here — replay, the feedback join, the shadow
report, prediction lineage, backfill — read both, and give Parquet entries back in the JSONL
shape (one dict per request, ``output`` by name, ``input`` as records when sampled).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from modelyard.core.errors import EncryptionError
from modelyard.store.crypto import Keyring
from modelyard.store.parquet_log import parquet_files

if TYPE_CHECKING:
    from modelyard.core.settings import Settings

SEALED = b"enc1:"  # the prefix of a sealed (encrypted) JSONL line


def read_log(
    folder: Path | str,
    endpoint: str,
    keyring: Keyring | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every logged prediction of an endpoint, oldest day first (sealed lines are opened with
    the keyring; without one they are a clear error, never skipped).

    ``folder`` holds JSONL logs (``ENDPOINT/DAY/*.jsonl``) and/or Parquet logs
    (``endpoint=ENDPOINT/date=…/hour=…/*.parquet``; a folder or an ``s3://`` URL). Parquet
    entries are put back in the JSONL shape (one dict per request, ``output`` by name,
    ``input`` as records when sampled)."""
    if isinstance(folder, str) and "://" in folder and not folder.startswith("file://"):
        yield from _read_parquet(folder, endpoint, storage_options)
        return
    folder = Path(str(folder).removeprefix("file://"))
    yield from _read_jsonl(folder, endpoint, keyring)
    if (folder / f"endpoint={endpoint}").is_dir():
        yield from _read_parquet(str(folder), endpoint, storage_options)


def _read_jsonl(folder: Path, endpoint: str, keyring: Keyring | None) -> Iterator[dict[str, Any]]:
    base = folder / endpoint
    if not base.exists():
        return
    for day in sorted(p for p in base.iterdir() if p.is_dir()):
        for file in sorted(day.glob("*.jsonl")):
            with open(file, "rb") as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    if line.startswith(SEALED):
                        if keyring is None:
                            raise EncryptionError(
                                f"the prediction log {file} is encrypted and no key is configured",
                                hint="set MODELYARD_ENCRYPTION_KEY (or _KEY_FILE)",
                            )
                        blob = base64.b64decode(line[len(SEALED) :])
                        line = keyring.decrypt(blob, b"predlog", name=f"a line of {file}")
                    yield orjson.loads(line)


def storage_options(settings: Settings, url: str) -> dict[str, Any]:
    """fsspec options for an ``s3://`` location from the settings (nothing for a folder)."""
    if not url.startswith("s3://"):
        return {}
    opts: dict[str, Any] = {"key": settings.s3_key, "secret": settings.s3_secret}
    if settings.s3_endpoint_url:
        opts["client_kwargs"] = {"endpoint_url": settings.s3_endpoint_url}
    return opts


def _read_parquet(
    url: str, endpoint: str, options: Mapping[str, Any] | None
) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    fs, files = parquet_files(url, endpoint, options)
    for file in files:
        table = pq.read_table(file, filesystem=fs) if fs is not None else pq.read_table(file)
        current: dict[str, Any] | None = None
        inputs = [c for c in table.column_names if c.startswith("in_")]
        for rec in table.to_pylist():
            if current is None or rec["id"] != current["id"]:
                if current is not None:
                    yield current
                current = {
                    "id": rec["id"],
                    "at": rec["at"].isoformat(),
                    "endpoint": rec["endpoint"],
                    "version": rec["version"],
                    "version_id": rec["version_id"],
                    "role": rec["role"],
                    "latency_ms": rec["latency_ms"],
                    "output": {},
                }
                if rec["fallback_reason"]:
                    current["fallback_reason"] = rec["fallback_reason"]
                if rec["sampled"]:
                    current["input"] = []
            for k, v in orjson.loads(rec["output"]).items():  # row order is kept in a file
                current["output"].setdefault(k, []).append(v)
            if rec["sampled"]:
                current["input"].append({c[3:]: rec[c] for c in inputs})
        if current is not None:
            yield current


def log_sources(settings: Settings) -> list[tuple[Path | str, dict[str, Any]]]:
    """Where predictions are logged: JSONL under the project state, and the Parquet location
    (a folder or ``s3://``, with its storage options) when it is somewhere else."""
    sources: list[tuple[Path | str, dict[str, Any]]] = [(settings.state_dir / "predictions", {})]
    url = settings.prediction_log_url
    if url and Path(url.removeprefix("file://")) != sources[0][0]:
        sources.append((url, storage_options(settings, url)))
    return sources


def read_logs(
    settings: Settings, endpoint: str, keyring: Keyring | None = None
) -> Iterator[dict[str, Any]]:
    """Every logged prediction of an endpoint from every place the project logs to."""
    for folder, options in log_sources(settings):
        yield from read_log(folder, endpoint, keyring, options or None)
