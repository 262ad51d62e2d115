"""A bounded, TTL'd cache of predictions for hot inputs, as a wrapper over a frame predictor.

Keyed by the version, the requested outputs and the canonical bytes of the validated input
(:meth:`Frame.key`), so equal inputs written differently (records vs lists, ints vs floats)
share an entry. LRU-bounded; entries expire after ``ttl_s`` on an injectable clock; the
endpoint clears it whenever its plan changes.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import numpy as np

from modelyard.serving.frames import Frame

Outputs = dict[str, np.ndarray]
FrameFn = Callable[[Frame, frozenset[str]], Awaitable[Outputs]]


class PredictionCache:
    def __init__(
        self, max_entries: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.clock = clock
        self.entries: OrderedDict[tuple[int, frozenset[str], bytes], tuple[float, Outputs]] = (
            OrderedDict()
        )
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[int, frozenset[str], bytes]) -> Outputs | None:
        entry = self.entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        expires, value = entry
        if expires < self.clock():
            del self.entries[key]
            self.misses += 1
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: tuple[int, frozenset[str], bytes], value: Outputs) -> None:
        self.entries[key] = (self.clock() + self.ttl_s, value)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)


class Cached:
    """Answer from the cache when the same input was predicted by this version recently."""

    def __init__(
        self,
        inner: FrameFn,
        cache: PredictionCache,
        version_id: int,
        on_lookup: Callable[[bool], None] | None = None,
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.version_id = version_id
        self.on_lookup = on_lookup

    async def __call__(self, frame: Frame, want: frozenset[str]) -> Outputs:
        key = (self.version_id, want, frame.key())
        hit = self.cache.get(key)
        if self.on_lookup is not None:
            self.on_lookup(hit is not None)
        if hit is not None:
            return hit
        out = await self.inner(frame, want)
        self.cache.put(key, out)
        return out
