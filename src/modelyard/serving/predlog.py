"""The prediction log: id, version, latency, output and a sampled, privacy-safe input copy.

Recording is an append to an in-memory list on the request path (no formatting, no I/O); a
background task swaps the list out every ``flush_every_s`` and a worker thread writes it as
JSON lines, one file per endpoint, day and process, so replicas never contend. Fields tagged
``pii`` in the signature are hashed (keyed SHA-256, stable, so joins still work) or dropped
before anything is written. ``read_log`` reads the files back for replay.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import logging
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from modelyard.core.endpoint_config import PredictionLogConfig
from modelyard.core.errors import EncryptionError
from modelyard.serving.predictor import Answer
from modelyard.store.crypto import Keyring

log = logging.getLogger("modelyard.serving")


@dataclass
class _Entry:
    endpoint: str
    config: PredictionLogConfig
    pii: frozenset[str]
    prediction_id: str
    at: float
    latency_s: float
    answer: Answer
    with_input: bool


SEALED = b"enc1:"


class PredictionLog:
    def __init__(
        self,
        folder: Path,
        *,
        pii_key: bytes = b"modelyard-pii",
        max_pending: int = 200_000,
        keyring: Keyring | None = None,
    ) -> None:
        self.folder = folder
        self.pii_key = pii_key
        self.keyring = keyring  # set: every line is sealed (AES-256-GCM) before it is written
        self.max_pending = max_pending
        self.pending: list[_Entry] = []
        self.dropped = 0
        self.written = 0
        self.task: asyncio.Task[None] | None = None
        self.rand = random.random

    def record(
        self,
        endpoint: str,
        config: PredictionLogConfig,
        pii: frozenset[str],
        prediction_id: str,
        latency_s: float,
        answer: Answer,
    ) -> None:
        if not config.enabled:
            return
        if len(self.pending) >= self.max_pending:
            self.dropped += 1
            return
        with_input = config.input_sample >= 1.0 or self.rand() < config.input_sample
        self.pending.append(
            _Entry(endpoint, config, pii, prediction_id, time.time(), latency_s, answer, with_input)
        )

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

    # ---- off the event loop ---------------------------------------------------------------
    def _write(self, batch: list[_Entry]) -> None:
        files: dict[Path, list[bytes]] = {}
        pid = os.getpid()
        for e in batch:
            day = dt.datetime.fromtimestamp(e.at, dt.UTC).strftime("%Y-%m-%d")
            path = self.folder / e.endpoint / day / f"{pid}.jsonl"
            files.setdefault(path, []).append(self._line(e))
        for path, lines in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as fh:
                fh.write(b"".join(lines))
        self.written += len(batch)

    def _line(self, e: _Entry) -> bytes:
        a = e.answer
        row: dict[str, Any] = {
            "id": e.prediction_id,
            "at": dt.datetime.fromtimestamp(e.at, dt.UTC).isoformat(),
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
            row["input"] = [self._private(r, e.pii, e.config.pii) for r in a.frame.records()]
        line = orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY, default=str)
        if self.keyring is not None:
            line = SEALED + base64.b64encode(self.keyring.encrypt(line, b"predlog"))
        return line + b"\n"

    def _private(self, record: dict[str, Any], pii: frozenset[str], mode: str) -> dict[str, Any]:
        if not pii:
            return record
        out = {}
        for k, v in record.items():
            if k not in pii:
                out[k] = v
            elif mode == "hash":
                digest = hmac.new(self.pii_key, str(v).encode(), hashlib.sha256).hexdigest()
                out[k] = f"sha256:{digest[:32]}"
        return out


def read_log(
    folder: Path, endpoint: str, keyring: Keyring | None = None
) -> Iterator[dict[str, Any]]:
    """Every logged prediction of an endpoint, oldest day first (sealed lines are opened with
    the keyring; without one they are a clear error, never skipped)."""
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
