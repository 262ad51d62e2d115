"""The core protocol: a ``Predictor`` turns an :class:`InferRequest` into an :class:`Answer`.

One model version is a :class:`VersionPredictor` (validate against its compiled schema, then a
frame-level stack: cache → batcher → runtime). Routing, canary, segments, fallback and shadow
are request-level wrappers in ``routing``; each is a Predictor over Predictors. A version also
explains its answers when its model allows (``VersionPredictor.explain``): exactly for linear
models, by TreeSHAP for tree ensembles.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from modelyard.core.errors import InvalidInput
from modelyard.serving.batching import take_cpu_s
from modelyard.serving.errors import ModelFailed
from modelyard.serving.frames import Frame, Payload
from modelyard.serving.schema import InputSchema

Outputs = dict[str, np.ndarray]
FrameFn = Callable[[Frame, frozenset[str]], Awaitable[Outputs]]
# per-feature contributions of a frame (see protocol_v1.encode_explanation), None: not for it
Explainer = Callable[[Frame], dict[str, Any] | None]


@dataclass(frozen=True)
class VersionInfo:
    id: int
    name: str
    version: int
    state: str
    flavor: str
    signature: dict[str, Any]

    @property
    def pii(self) -> frozenset[str]:
        """Input fields tagged ``pii`` in the signature (never logged in clear)."""
        found: frozenset[str] | None = self.__dict__.get("_pii")
        if found is None:
            found = frozenset(i["name"] for i in self.signature.get("inputs", []) if i.get("pii"))
            object.__setattr__(self, "_pii", found)
        return found

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class InferRequest:
    payload: Payload
    id: str
    want: frozenset[str] | None = None  # None: the version's default outputs
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, as needed
    after: list[Callable[[], None]] = field(default_factory=list)  # run once the answer is sent
    started: float = field(default_factory=time.perf_counter)


@dataclass
class Answer:
    outputs: Outputs
    version: VersionInfo
    frame: Frame | None = None
    role: str = "production"
    fallback_reason: str | None = None
    cpu_s: float = 0.0  # CPU seconds of the model call(s) spent on this answer (batch share)


class Predictor(Protocol):
    async def predict(self, req: InferRequest) -> Answer: ...


class Observer(Protocol):
    """Something told about every answered or failed request (monitoring, review queue).

    Called on the event loop right after the response is sent: it must only append to an
    in-memory buffer (no I/O, no locks held long) and do its real work in the background.
    ``answer`` is None for a failed request; ``failed_version`` then names the version that
    failed (``MODEL@VERSION``) when one is known. Shadow answers arrive with
    ``answer.role == "shadow"``.
    """

    def observe(
        self,
        endpoint: str,
        prediction_id: str,
        answer: Answer | None,
        latency_s: float,
        failed_version: str | None = None,
    ) -> None: ...


class IdMaker:
    """Prediction ids unique across replicas: a random per-process prefix and a counter."""

    def __init__(self) -> None:
        self.prefix = f"{secrets.token_hex(6)}{os.getpid() & 0xFFFF:04x}"
        self.counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.prefix}-{next(self.counter):x}"


class VersionPredictor:
    """One model version on one endpoint: its schema, outputs and frame-level stack."""

    def __init__(
        self,
        info: VersionInfo,
        schema: InputSchema,
        outputs: tuple[str, ...],
        run: FrameFn,
        max_rows: int,
        runtime_kind: str = "",
        *,
        exact: Explainer | None = None,
        tree: Explainer | None = None,
    ) -> None:
        self.info = info
        self.schema = schema
        self.outputs = outputs
        self.output_set = frozenset(outputs)
        # V1 answers ``predict``; V2 answers every output unless some are requested
        self.default_want = self.output_set
        self.run = run
        self.max_rows = max_rows
        self.runtime_kind = runtime_kind
        self.role = "production"
        # exact per-feature contributions, when the runtime can give them (linear models)
        self.exact = exact
        # TreeSHAP for tree ensembles: blocking, run on a worker thread
        self.tree = tree

    def check_outputs(self, want: frozenset[str]) -> None:
        unknown = want - self.output_set
        if unknown:
            raise InvalidInput(
                f"outputs: unknown output {sorted(unknown)[0]!r}; {self.info.ref} has "
                f"{', '.join(repr(o) for o in self.outputs)}"
            )

    async def predict(self, req: InferRequest) -> Answer:
        frame = self.schema.validate(req.payload, self.max_rows)
        want = self.default_want
        if req.want is not None:
            self.check_outputs(req.want)
            want = req.want
        try:
            outputs = await self.run(frame, want)
        except (InvalidInput, ModelFailed):
            raise
        except Exception as exc:
            raise ModelFailed(
                f"{self.info.ref} failed on valid input: {type(exc).__name__}: {exc}",
                model_version=self.info.ref,
            ) from exc
        return Answer(outputs, self.info, frame, self.role, cpu_s=take_cpu_s())

    async def explain(self, payload: Payload) -> dict[str, Any]:
        """Per-feature contributions for the payload's rows, or InvalidInput naming the model
        kinds that have them."""
        frame = self.schema.validate(payload, self.max_rows)
        result = self.exact(frame) if self.exact is not None else None
        if result is None and self.tree is not None:
            result = await asyncio.get_running_loop().run_in_executor(None, self.tree, frame)
        if result is None:
            raise InvalidInput(
                f"{self.info.ref} ({self.runtime_kind}) has no explanation: they are "
                "available for linear models ([StandardScaler…] + a linear estimator) and "
                "tree ensembles (forests, gradient boosting, LightGBM, XGBoost)",
                hint="serve a linear or tree model to explain its predictions",
            )
        return result
