"""Feedback value types: a label for a served prediction, what recording labels did, a label
as stored, and a review item with its states. Shared by the feedback service and the store
that persists them (which builds the stored ones with ``from_row``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from modelyard.core.records import _Record

SOURCES = ("api", "file", "review")
PENDING, CONFIRMED, CORRECTED = "pending", "confirmed", "corrected"
STATUSES = (PENDING, CONFIRMED, CORRECTED)
DECISIONS = ("confirm", "correct")


@dataclass(frozen=True)
class Label:
    """One label: a scalar, or a list of scalars for a prediction made on several rows."""

    prediction_id: str
    label: Any
    endpoint: str | None = None


@dataclass(frozen=True)
class AddResult:
    received: int
    new: int
    replaced: int
    unchanged: int = 0  # the same label again (a retried request): nothing written


@dataclass(frozen=True)
class StoredLabel(_Record):
    """A recorded label (a row of ``feedback``); the join fills in what the prediction log
    knows: version, prediction time, output and input (None until joined, or not sampled)."""

    id: int
    prediction_id: str
    endpoint: str | None
    label: Any
    source: str
    reviewer: str | None
    received_at: dt.datetime
    version_id: int | None
    predicted_at: dt.datetime | None
    output: Any
    input: Any


@dataclass(frozen=True)
class ReviewItem(_Record):
    """A prediction queued for a person to confirm or correct (a row of ``review_items``)."""

    id: int
    prediction_id: str
    endpoint: str
    version_id: int
    predicted_at: dt.datetime
    input: Any
    output: Any
    score: float | None
    reason: str
    status: str
    label: Any
    reviewer: str | None
    decided_at: dt.datetime | None
