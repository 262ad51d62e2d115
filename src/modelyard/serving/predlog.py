"""The prediction log: id, version, latency, output and a sampled, privacy-safe input copy.

Recording is an append to an in-memory list on the request path (no formatting, no I/O); a
background task swaps the list out every ``flush_every_s`` and a worker thread writes it as
JSON lines, one file per endpoint, day and process, so replicas never contend. Fields tagged
``pii`` in the signature are hashed (HMAC-SHA256 under the project's PII key, see
:mod:`modelyard.security.pii`; stable, so joins still work) or dropped before anything is
written. :mod:`modelyard.store.prediction_log` reads the files back (replay, feedback,
reports).

That default (``durability: buffered``) loses what was answered since the last flush when the
process is killed. With ``prediction_log: {durability: acknowledged}`` the app awaits
``commit`` before it sends an answer: the entry goes to a group-commit writer thread
(``durable_log``) that appends it to ``<pid>-acked.jsonl`` and syncs the file first.

With ``prediction_log: {format: parquet}`` an endpoint's entries go instead to Hive-partitioned
Parquet at the prediction-log location (``MODELYARD_PREDICTION_LOG_URL``, default the artifact
location's ``predictions/``; a folder or ``s3://``)::

    endpoint=E/date=YYYY-MM-DD/hour=HH/part-<pid>-<seq>.parquet

one file per flush, partition and process (written whole, never appended), one Parquet row per
predicted row: ``id, row, at, endpoint, version, version_id, role, latency_ms,
fallback_reason, output`` (that row's outputs as JSON), ``score`` (the ``predict`` output as a
number, when it is one), ``label`` (the ``predict`` output as text, when it is not),
``sampled`` and, for sampled requests, the input as ``in_<name>`` columns. Parquet files are
not sealed: with an encryption key configured the server refuses the format (encryption at
rest then has to come from the object store, e.g. SSE-KMS, and the key must be unset).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import itertools
import logging
import math
import os
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from modelyard.core.endpoint_config import EndpointConfig, PredictionLogConfig
from modelyard.core.errors import ConfigError
from modelyard.security.pii import pii_hash_key, private_record
from modelyard.serving.durable_log import GroupCommitWriter
from modelyard.serving.errors import NotReady
from modelyard.serving.predictor import Answer
from modelyard.store.crypto import Keyring
from modelyard.store.parquet_log import filesystem
from modelyard.store.prediction_log import SEALED, storage_options

if TYPE_CHECKING:
    from modelyard.core.settings import Settings

log = logging.getLogger("modelyard.serving")


@dataclass(slots=True)
class _Entry:
    endpoint: str
    config: PredictionLogConfig
    pii: frozenset[str]
    prediction_id: str
    at: float
    latency_s: float
    answer: Answer
    with_input: bool


class PredictionLog:
    def __init__(
        self,
        folder: Path,
        *,
        pii_key: bytes | None = None,
        max_pending: int = 200_000,
        keyring: Keyring | None = None,
        parquet_url: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.folder = folder
        self.parquet_url = parquet_url  # where format: parquet endpoints write
        self.storage_options = dict(storage_options or {})
        self._seq = itertools.count()
        # no key given (a log built by hand): a random one, so digests match within this log
        # only; the server passes the project's key (security.pii.pii_hash_key)
        self.pii_key: bytes | None = pii_key if pii_key is not None else secrets.token_bytes(32)
        self.keyring = keyring  # set: every line is sealed (AES-256-GCM) before it is written
        self.max_pending = max_pending
        self.pending: list[_Entry] = []
        self.dropped = 0
        self.written = 0
        self.task: asyncio.Task[None] | None = None
        self.rand = random.random
        self.durable = GroupCommitWriter(self._acked_line)  # durability: acknowledged

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        configs: Mapping[str, EndpointConfig],
        keyring: Keyring | None,
    ) -> PredictionLog:
        """The server's log: JSONL under the project state, Parquet at the prediction-log URL.

        Refuses Parquet with an encryption key (Parquet files are not sealed line by line)."""
        parquet = sorted(n for n, c in configs.items() if c.prediction_log.format == "parquet")
        if parquet and keyring is not None:
            raise ConfigError(
                f"endpoints {', '.join(parquet)} log predictions as Parquet, which modelyard "
                "does not encrypt, and an encryption key is configured",
                hint="use prediction_log.format: jsonl (sealed), or unset the key and rely on "
                "the object store's encryption at rest (e.g. S3 SSE-KMS)",
            )
        out = cls(
            settings.state_dir / "predictions",
            keyring=keyring,
            parquet_url=settings.prediction_log_url or None,
            storage_options=storage_options(settings, settings.prediction_log_url),
        )
        out.pii_key = pii_hash_key(settings)  # None: no secret to be had, PII is dropped
        return out

    def record(
        self,
        endpoint: str,
        config: PredictionLogConfig,
        pii: frozenset[str],
        prediction_id: str,
        latency_s: float,
        answer: Answer,
        at: float | None = None,
    ) -> None:
        """Queue one answer (``at``: when it was answered, epoch seconds; default now)."""
        if not config.enabled:
            return
        if len(self.pending) >= self.max_pending:
            self.dropped += 1
            return
        self.pending.append(
            self._entry(endpoint, config, pii, prediction_id, latency_s, answer, at)
        )

    def _entry(
        self,
        endpoint: str,
        config: PredictionLogConfig,
        pii: frozenset[str],
        prediction_id: str,
        latency_s: float,
        answer: Answer,
        at: float | None = None,
    ) -> _Entry:
        """One answer to log, its input sampled at the endpoint's ``input_sample`` rate."""
        with_input = config.input_sample >= 1.0 or self.rand() < config.input_sample
        when = time.time() if at is None else at
        return _Entry(endpoint, config, pii, prediction_id, when, latency_s, answer, with_input)

    async def commit(
        self,
        endpoint: str,
        config: PredictionLogConfig,
        pii: frozenset[str],
        prediction_id: str,
        latency_s: float,
        answer: Answer,
    ) -> None:
        """``durability: acknowledged``: return once the answer is written and fsync'd (with
        the other requests of its group commit); a failure is a 503, never a silent loss."""
        entry = self._entry(endpoint, config, pii, prediction_id, latency_s, answer)
        try:
            await self.durable.commit(entry)
        except OSError as exc:
            log.error("could not write the prediction log: %s", exc)
            raise NotReady(
                f"the prediction log could not be written ({exc.strerror or exc}); this "
                "endpoint logs every answer before sending it, so none was sent",
                hint="free disk space or fix the log folder's permissions",
            ) from None
        self.written += 1

    def _acked_line(self, e: _Entry) -> tuple[Path, bytes]:
        day = dt.datetime.fromtimestamp(e.at, dt.UTC).strftime("%Y-%m-%d")
        return self.folder / e.endpoint / day / f"{os.getpid()}-acked.jsonl", self._line(e)

    def start(self, every_s: float) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(every_s))

    async def _run(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            await self.flush()

    async def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        try:
            await asyncio.to_thread(self._write, batch)
        except Exception:  # the log must never take the server down
            log.exception("could not write the prediction log")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        await self.flush()
        await asyncio.to_thread(self.durable.close)

    # ---- off the event loop ---------------------------------------------------------------
    def _write(self, batch: list[_Entry]) -> None:
        parquet = [e for e in batch if e.config.format == "parquet"]
        if parquet:
            batch = [e for e in batch if e.config.format != "parquet"]
        files: dict[tuple[str, int], list[bytes]] = {}  # (endpoint, UTC day number) -> lines
        for e in batch:
            files.setdefault((e.endpoint, int(e.at // 86400)), []).append(self._line(e))
        name = f"{os.getpid()}.jsonl"
        for (endpoint, day), lines in files.items():
            stamp = dt.datetime.fromtimestamp(day * 86400, dt.UTC).strftime("%Y-%m-%d")
            path = self.folder / endpoint / stamp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as fh:
                fh.write(b"".join(lines))
        self.written += len(batch)
        if parquet:  # after the JSONL lines: a failing bucket does not cost them
            self._write_parquet(parquet)

    def _write_parquet(self, batch: list[_Entry]) -> None:
        import pyarrow.parquet as pq

        if self.parquet_url is None:
            raise ConfigError("a Parquet prediction log needs a location (prediction_log_url)")
        parts: dict[tuple[str, str, str], list[_Entry]] = {}
        for e in batch:
            stamp = dt.datetime.fromtimestamp(e.at, dt.UTC)
            key = (e.endpoint, stamp.strftime("%Y-%m-%d"), stamp.strftime("%H"))
            parts.setdefault(key, []).append(e)
        fs, base = filesystem(self.parquet_url, self.storage_options)
        pid = os.getpid()
        for (endpoint, day, hour), entries in parts.items():
            table = self._table(entries)
            folder = f"{base}/endpoint={endpoint}/date={day}/hour={hour}"
            name = f"part-{pid}-{int(time.time() * 1000)}-{next(self._seq)}.parquet"
            if fs is None:
                Path(folder).mkdir(parents=True, exist_ok=True)
                tmp = Path(folder) / f".tmp-{name}"
                pq.write_table(table, tmp, compression="zstd")
                os.replace(tmp, Path(folder) / name)  # readers never see a partial file
            else:
                with fs.open(f"{folder}/{name}", "wb") as fh:  # one PUT: atomic on S3
                    pq.write_table(table, fh, compression="zstd")
        self.written += len(batch)

    def _table(self, entries: list[_Entry]) -> Any:
        """One Arrow table, one row per predicted row, with the stable columns first."""
        import pyarrow as pa

        types = _parquet_columns()
        cols: dict[str, list[Any]] = {name: [] for name in types}
        inputs: dict[str, list[Any]] = {}
        n = 0
        for e in entries:
            a = e.answer
            outputs = {k: v.tolist() for k, v in a.outputs.items()}
            rows = max((len(v) for v in outputs.values()), default=0)
            records = None
            if e.with_input and a.frame is not None:
                records = [
                    private_record(r, e.pii, e.config.pii, self.pii_key) for r in a.frame.records()
                ]
                rows = max(rows, len(records))
            at = dt.datetime.fromtimestamp(e.at, dt.UTC)
            predict = outputs.get("predict")
            for i in range(rows):
                cols["id"].append(e.prediction_id)
                cols["row"].append(i)
                cols["at"].append(at)
                cols["endpoint"].append(e.endpoint)
                cols["version"].append(a.version.ref)
                cols["version_id"].append(a.version.id)
                cols["role"].append(a.role)
                cols["latency_ms"].append(round(e.latency_s * 1000, 3))
                cols["fallback_reason"].append(a.fallback_reason)
                out_row = {k: v[i] for k, v in outputs.items() if i < len(v)}
                cols["output"].append(orjson.dumps(out_row, default=str).decode())
                p = _first(predict[i]) if predict is not None and i < len(predict) else None
                score = (
                    float(p) if isinstance(p, (int, float)) and not isinstance(p, bool) else None
                )
                cols["score"].append(score)
                cols["label"].append(None if score is not None or p is None else str(p))
                cols["sampled"].append(records is not None)
                record = records[i] if records is not None and i < len(records) else {}
                for name in record:
                    inputs.setdefault(f"in_{name}", [None] * n)
                for name, values in inputs.items():
                    values.append(record.get(name[3:]))
                n += 1
        arrays = {name: pa.array(cols[name], type=types[name]) for name in cols}
        for name, values in sorted(inputs.items()):
            arrays[name] = _input_array(values)
        return pa.table(arrays)

    def _line(self, e: _Entry) -> bytes:
        a = e.answer
        row: dict[str, Any] = {
            "id": e.prediction_id,
            "at": utc_iso(e.at),
            "endpoint": e.endpoint,
            "version": a.version.ref,
            "version_id": a.version.id,
            "role": a.role,
            "latency_ms": round(e.latency_s * 1000, 3),
            "output": {k: v.tolist() for k, v in a.outputs.items()},
        }
        if a.fallback_reason:
            row["fallback_reason"] = a.fallback_reason
        if e.with_input and a.frame is not None:
            row["input"] = [
                private_record(r, e.pii, e.config.pii, self.pii_key) for r in a.frame.records()
            ]
        line = orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY, default=str)
        if self.keyring is not None:
            line = SEALED + base64.b64encode(self.keyring.encrypt(line, b"predlog"))
        return line + b"\n"


_second: tuple[int, str] = (-1, "")  # the last whole second utc_iso formatted, and its text


def utc_iso(at: float) -> str:
    """``datetime.fromtimestamp(at, UTC).isoformat()``, the same text (microseconds rounded
    half to even, omitted when zero) for a fraction of the cost: the date and time of a
    second are formatted once for all the entries of that second."""
    global _second
    frac, whole = math.modf(at)
    us, sec = round(frac * 1e6), int(whole)
    if us >= 1_000_000:
        us, sec = us - 1_000_000, sec + 1
    elif us < 0:
        us, sec = us + 1_000_000, sec - 1
    last = _second
    if last[0] != sec:
        last = _second = (sec, dt.datetime.fromtimestamp(sec, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{last[1]}.{us:06d}+00:00" if us else f"{last[1]}+00:00"


def acknowledged(config: PredictionLogConfig) -> bool:
    """Is every answer of this endpoint logged before it is sent?"""
    return config.enabled and config.durability == "acknowledged"


# ---- Parquet ------------------------------------------------------------------------------
def _parquet_columns() -> dict[str, Any]:
    """The stable columns of a Parquet log file and their Arrow types, in order."""
    import pyarrow as pa

    return {
        "id": pa.string(),
        "row": pa.int32(),
        "at": pa.timestamp("us", tz="UTC"),
        "endpoint": pa.string(),
        "version": pa.string(),
        "version_id": pa.int64(),
        "role": pa.string(),
        "latency_ms": pa.float64(),
        "fallback_reason": pa.string(),
        "output": pa.string(),
        "score": pa.float64(),
        "label": pa.string(),
        "sampled": pa.bool_(),
    }


def _first(value: Any) -> Any:
    """The monitored scalar of one row's ``predict`` (its first element when it is a list)."""
    while isinstance(value, list):
        if not value:
            return None
        value = value[0]
    return value


def _input_array(values: list[Any]) -> Any:
    """An input column: integers as int64, other numbers as float64, booleans as bool,
    anything else as text (so every file of an endpoint reads back with one schema)."""
    import pyarrow as pa

    values = [None if v is None or v != v else v for v in values]  # NaN is missing, as in JSON
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, type=pa.bool_())
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.array(values, type=pa.int64())
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())
