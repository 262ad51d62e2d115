"""Replay: re-score an endpoint's logged inputs on another version and report differences.

Reads the prediction log (``store.prediction_log.read_logs``: JSONL and Parquet), validates
each logged input against the target version's signature, predicts in batches through the
target's runtime and compares the ``predict`` output with what was answered at the time.
Inputs whose PII fields were hashed or dropped are reported as such (a model that reads them
sees the hash, not the value).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelyard.core.errors import InvalidInput
from modelyard.registry.registry import Registry
from modelyard.serving.frames import Payload
from modelyard.serving.loading import ModelPool
from modelyard.store.prediction_log import read_logs

BATCH = 512


@dataclass
class ReplayReport:
    endpoint: str
    target: str
    logged: int = 0
    replayed: int = 0
    differing: int = 0
    skipped_no_input: int = 0
    skipped_invalid: int = 0
    pii_altered: int = 0
    by_version: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def agreement(self) -> float | None:
        return None if not self.replayed else 1 - self.differing / self.replayed

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "agreement": self.agreement}


def replay(reg: Registry, endpoint: str, target_ref: str, limit: int | None = None) -> ReplayReport:
    """Re-score the endpoint's logged inputs (every log location: JSONL and Parquet) on
    ``target_ref`` and compare with what was answered."""
    mv = reg.model_version(target_ref)
    loaded = ModelPool(reg, max_rows=BATCH).load(mv)
    schema, runtime = loaded.schema, loaded.runtime
    if "predict" not in runtime.outputs:
        raise InvalidInput(f"{mv.ref} has no 'predict' output to compare")
    report = ReplayReport(endpoint, mv.ref)
    pending: list[tuple[dict[str, Any], list[Any]]] = []

    def flush() -> None:
        if not pending:
            return
        records = [r for entry, _ in pending for r in entry["input"]]
        frame = schema.validate(Payload("records", records, "input"), len(records))
        out = runtime.run(frame, frozenset({"predict"}))["predict"].tolist()
        start = 0
        for entry, old in pending:
            n = len(entry["input"])
            new = out[start : start + n]
            start += n
            report.replayed += 1
            if not _same(old, new):
                report.differing += 1
                if len(report.examples) < 10:
                    report.examples.append(
                        {
                            "id": entry["id"],
                            "version": entry["version"],
                            "logged": old,
                            "replayed": new,
                        }
                    )
        pending.clear()

    for entry in read_logs(reg.settings, endpoint, reg.artifacts.keyring):
        if entry.get("role") == "shadow":
            continue
        report.logged += 1
        report.by_version[entry["version"]] = report.by_version.get(entry["version"], 0) + 1
        if "input" not in entry:
            report.skipped_no_input += 1
            continue
        if schema.pii and any(
            k in schema.pii and (k not in r or str(r[k]).startswith("sha256:"))
            for r in entry["input"]
            for k in schema.names
        ):
            report.pii_altered += 1
        try:
            schema.validate(Payload("records", entry["input"], "input"), 10_000)
        except InvalidInput:
            report.skipped_invalid += 1
            continue
        pending.append((entry, entry["output"].get("predict", [])))
        if len(pending) >= BATCH:
            flush()
        if limit is not None and report.logged >= limit:
            break
    flush()
    return report


def _same(a: list[Any], b: list[Any]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, float) or isinstance(y, float):
            if not np.isclose(float(x), float(y), rtol=1e-9, atol=1e-12):
                return False
        elif x != y:
            return False
    return True
