"""Adaptive batching, event-driven: batch what queued while the model was busy.

There is no polling timer. A request that finds the model idle is predicted at once (alone);
requests that arrive while a batch is being predicted wait for it to finish and then go
together as the next batch, capped at ``max_rows`` rows. So a lone request is never delayed,
and under load the per-call cost (input building, dispatch) is shared by the whole batch.

Two ways to run the model, chosen per version by measuring it at load:

* **inline** — cheap runtimes (compiled NumPy paths: tens of µs for a full batch) run on the
  event loop in a ``call_soon`` callback: requests parsed in the same loop turn share it, and
  a thread hop (which would cost more than the model) is avoided;
* **worker** — anything slower runs on the version's own single worker thread, so the event
  loop keeps accepting and parsing (a predict blocking the loop starves every connection).

``max_wait_s`` (default 0) optionally holds a batch a little longer for more rows, but only
while the previous batch was shared (i.e. under concurrency); an idle server never waits. The
sleep function is injectable, so tests are deterministic.

Inference CPU: each model call on the worker thread is timed with ``time.thread_time()`` (the
thread's CPU clock; ~0.1 µs a read where the vDSO serves it, a ~2 µs syscall on some VMs, small
next to a call slow enough for the worker). An inline call is CPU-bound on the loop thread and
costs tens of µs, so it is timed with ``perf_counter`` (a vDSO read) instead. The seconds are
shared among the batch's requests by rows. ``submit`` adds its request's share to a context
variable of the calling task; the version predictor takes it (``take_cpu_s``) into
``Answer.cpu_s``, so live monitoring can charge it to the version. A cache hit makes no model
call and takes nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from time import perf_counter, thread_time
from typing import Any

import numpy as np

from modelyard.serving.frames import Frame

Outputs = dict[str, np.ndarray]
RunFn = Callable[[Frame, frozenset[str]], Outputs]
Timed = tuple[Outputs, float]  # one request's outputs and its share of the call's CPU seconds
Item = tuple[Frame, frozenset[str], "asyncio.Future[Timed]"]

_cpu_s: ContextVar[float] = ContextVar("modelyard_inference_cpu_s", default=0.0)


def take_cpu_s() -> float:
    """CPU seconds of the model calls made for the current task since the last take (reset)."""
    cpu = _cpu_s.get()
    if cpu:
        _cpu_s.set(0.0)
    return cpu


class Batcher:
    def __init__(
        self,
        run: RunFn,
        *,
        max_rows: int = 256,
        max_wait_s: float = 0.0,
        inline: bool = False,
        enabled: bool = True,
        executor: ThreadPoolExecutor | None = None,
        on_batch: Callable[[int, int], None] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.run = run
        self.max_rows = max_rows if enabled else 1
        self.max_wait_s = max_wait_s
        self.inline = inline
        self.executor = executor
        self.on_batch = on_batch
        self.sleep = sleep
        self.queue: deque[Item] = deque()
        self.busy = False
        self.last_shared = False
        self.task: asyncio.Task[None] | None = None

    async def submit(self, frame: Frame, want: frozenset[str]) -> Outputs:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Timed] = loop.create_future()
        self.queue.append((frame, want, fut))
        if not self.busy:
            self.busy = True
            if self.inline:
                loop.call_soon(self._flush_inline)
            else:
                self.task = loop.create_task(self._drain())
        outputs, cpu = await fut
        _cpu_s.set(_cpu_s.get() + cpu)
        return outputs

    # ---- taking a batch ------------------------------------------------------------------
    def _take(self) -> list[Item]:
        items: list[Item] = []
        rows = 0
        q = self.queue
        while q:
            frame, _, fut = q[0]
            if fut.done():  # cancelled (the caller gave up: fallback timeout, disconnect)
                q.popleft()
                continue
            if items and rows + frame.n > self.max_rows:
                break
            items.append(q.popleft())
            rows += frame.n
        return items

    def _flush_inline(self) -> None:
        items = self._take()
        if items:
            self._deliver(items, predict_items(self.run, items, perf_counter))
        if self.queue:
            asyncio.get_running_loop().call_soon(self._flush_inline)
        else:
            self.busy = False

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.queue:
                if self.max_wait_s > 0 and self.last_shared and self._rows() < self.max_rows:
                    await self.sleep(self.max_wait_s)
                items = self._take()
                if not items:
                    continue
                results = await loop.run_in_executor(self.executor, predict_items, self.run, items)
                self._deliver(items, results)
        finally:
            self.busy = False

    def _rows(self) -> int:
        return sum(f.n for f, _, _ in self.queue)

    def _deliver(self, items: list[Item], results: list[Timed | BaseException]) -> None:
        self.last_shared = len(items) > 1
        if self.on_batch is not None:
            self.on_batch(len(items), sum(f.n for f, _, _ in items))
        for (_, _, fut), res in zip(items, results, strict=True):
            if fut.done():
                continue
            if isinstance(res, BaseException):
                fut.set_exception(res)
            else:
                fut.set_result(res)


def predict_items(
    run: RunFn, items: list[Item], clock: Callable[[], float] = thread_time
) -> list[Timed | BaseException]:
    """Predict a batch as one call and split the outputs (and its CPU time on ``clock``, by
    rows) back per request.

    If the batch fails, each request is retried alone, so one request that makes the model
    raise fails alone and its neighbours are still answered.
    """
    if len(items) == 1:
        frame, want, _ = items[0]
        t0 = clock()
        try:
            out = run(frame, want)
        except Exception as exc:
            return [exc]
        return [(out, clock() - t0)]
    want = frozenset().union(*(w for _, w, _ in items))
    t0 = clock()
    try:
        out = run(Frame.concat([f for f, _, _ in items]), want)
    except Exception:
        return [predict_items(run, [item], clock)[0] for item in items]
    cpu_per_row = (clock() - t0) / max(1, sum(f.n for f, _, _ in items))
    results: list[Timed | BaseException] = []
    start = 0
    for frame, w, _ in items:
        stop = start + frame.n
        results.append(
            ({k: v[start:stop] for k, v in out.items() if k in w}, cpu_per_row * frame.n)
        )
        start = stop
    return results
