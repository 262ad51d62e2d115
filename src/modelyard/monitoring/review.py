"""The human review queue: predictions a person should look at, chosen in the background.

:class:`ReviewQueue` is an observer of the server (structurally: monitoring does not import
serving). ``observe`` only appends to a bounded in-memory buffer; a background task drains it
every ``flush_every_s`` and, in a worker thread, queues a prediction when the probability of
its predicted class is below ``monitoring.review.confidence_below`` (from ``predict_proba``
in the answer when present, otherwise from the version's model, loaded once) or when it falls
in the seeded random ``sample`` share. Inputs are stored as the prediction log stores them:
fields tagged ``pii`` hashed (same keyed hash, so joins still work) or dropped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.core.monitor_config import ReviewConfig
from modelyard.registry.registry import Registry
from modelyard.security.pii import pii_hash_key, private_record
from modelyard.store.feedback import FeedbackStore
from modelyard.store.metadata import Row

log = logging.getLogger("modelyard.monitoring")


@dataclass
class _Seen:
    endpoint: str
    prediction_id: str
    at: float
    answer: Any  # serving's Answer: .version, .frame, .outputs, .role


class ReviewQueue:
    def __init__(
        self,
        reg: Registry,
        config: ReviewConfig | None = None,
        *,
        seed: int = 0,
        flush_every_s: float = 1.0,
        max_buffer: int = 50_000,
    ) -> None:
        self.reg = reg
        self.config = config or reg.config.monitoring.review
        self.flush_every_s = flush_every_s
        self.max_buffer = max_buffer
        self.rng = random.Random(seed)
        self.buffer: list[_Seen] = []
        self.dropped = 0
        self.queued = 0
        self.active = self.config.confidence_below is not None or self.config.sample > 0
        self.pii_key: bytes | None = pii_hash_key(reg.settings)  # None: PII dropped
        self._models: dict[int, Any] = {}
        self._task: asyncio.Task[None] | None = None

    # ---- on the event loop ------------------------------------------------------------------
    def observe(
        self,
        endpoint: str,
        prediction_id: str,
        answer: Any,
        latency_s: float,
        failed_version: str | None = None,
    ) -> None:
        if not self.active or answer is None or answer.role == "shadow":
            return
        if len(self.buffer) >= self.max_buffer:
            self.dropped += 1
            return
        self.buffer.append(_Seen(endpoint, prediction_id, time.time(), answer))

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_every_s)
            await self.flush()

    async def flush(self) -> int:
        if not self.buffer:
            return 0
        batch, self.buffer = self.buffer, []
        try:
            return await asyncio.to_thread(self.process, batch)
        except Exception:  # the queue must never take the server down
            log.exception("could not update the review queue")
            return 0

    # ---- in a worker thread ------------------------------------------------------------------
    def process(self, batch: list[_Seen]) -> int:
        """Choose which predictions of ``batch`` to queue and write them; returns how many."""
        items: list[Row] = []
        for seen in batch:
            score = self._confidence(seen.answer)
            threshold = self.config.confidence_below
            if threshold is not None and score is not None and score < threshold:
                reason = "low-confidence"
            elif self.config.sample > 0 and self.rng.random() < self.config.sample:
                reason = "sampled"
            else:
                continue
            items.append(self._item(seen, score, reason))
        if not items:
            return 0
        n = FeedbackStore(self.reg.store).enqueue(items, self.config.max_pending)
        self.queued += n
        return n

    def _confidence(self, answer: Any) -> float | None:
        """The lowest top-class probability over the prediction's rows (None: no scores)."""
        proba = answer.outputs.get("predict_proba")
        if proba is None and self.config.confidence_below is not None:
            proba = self._proba(answer)
        if proba is None:
            return None
        arr = np.asarray(proba, dtype=float)
        if arr.ndim != 2 or arr.size == 0:
            return None
        return float(arr.max(axis=1).min())

    def _proba(self, answer: Any) -> Any:
        if answer.frame is None:
            return None
        vid = answer.version.id
        if vid not in self._models:
            model = self.reg.load_model(answer.version.ref)
            self._models[vid] = model if hasattr(model, "predict_proba") else None
        model = self._models[vid]
        if model is None:
            return None
        return model.predict_proba(answer.frame.as_dataframe())

    def _item(self, seen: _Seen, score: float | None, reason: str) -> Row:
        a = seen.answer
        pii: frozenset[str] = a.version.pii
        ep = self.reg.config.endpoints.get(seen.endpoint)
        mode = ep.prediction_log.pii if ep is not None else "hash"
        records = a.frame.records() if a.frame is not None else []
        return {
            "prediction_id": seen.prediction_id,
            "endpoint": seen.endpoint,
            "version_id": a.version.id,
            "predicted_at": dt.datetime.fromtimestamp(seen.at, dt.UTC),
            "input": [_jsonable(private_record(r, pii, mode, self.pii_key)) for r in records],
            "output": {k: np.asarray(v).tolist() for k, v in a.outputs.items()},
            "score": score,
            "reason": reason,
        }


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in record.items():
        v = v.item() if hasattr(v, "item") else v
        out[k] = None if isinstance(v, float) and v != v else v  # NaN is not JSON
    return out


__all__ = ["ReviewQueue"]
