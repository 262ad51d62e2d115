"""Feedback value types: a label for a served prediction, what recording labels did, and the
states of a review item. Shared by the feedback service and the store that persists them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
