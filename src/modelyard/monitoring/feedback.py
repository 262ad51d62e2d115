"""Feedback labels and review decisions, as the adapters (API, dashboard, CLI) record and read
them: every label, source, status and decision is checked here, with a message naming what was
wrong and what was expected, before the store (``FeedbackStore``) writes it.

Joining labels to the prediction log and exporting them as a dataset is orchestration
(``modelyard.orchestration.feedback``); figures per window are ``monitoring.quality``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from modelyard.core.errors import InvalidInput
from modelyard.core.feedback_records import (
    DECISIONS,
    SOURCES,
    STATUSES,
    AddResult,
    Label,
    ReviewItem,
    StoredLabel,
)
from modelyard.registry.registry import Registry
from modelyard.store.feedback import FeedbackStore
from modelyard.store.metadata import Row

_SCALAR = (str, int, float, bool)


def check_label(value: Any, where: str) -> Any:
    """A label is a string, number or boolean (or a non-empty list of them); NaN is no label."""
    if isinstance(value, list) and value and all(isinstance(v, _SCALAR) for v in value):
        return value
    if isinstance(value, _SCALAR) and not (isinstance(value, float) and value != value):
        return value
    raise InvalidInput(
        f"{where}: label must be a string, number or boolean (or a list of them for a "
        f"multi-row prediction), got {value!r}"
    )


def check_prediction_id(value: Any, where: str) -> str:
    """The id the server returned with the prediction: a non-empty string of at most 64
    characters, returned without surrounding blanks."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise InvalidInput(
            f"{where}: prediction_id must be a non-empty string of at most 64 characters "
            f"(the id the server returned), got {value!r}"
        )
    return value.strip()


def checked_label(prediction_id: Any, value: Any, endpoint: str | None, where: str) -> Label:
    """A :class:`Label` from raw input; an error names ``where`` (a row, a list item)."""
    pid = check_prediction_id(prediction_id, where)
    return Label(pid, check_label(value, f"{where} ({pid})"), endpoint)


def add_labels(reg: Registry, labels: Sequence[Label], source: str, actor: str) -> AddResult:
    """Record labels in one transaction; a repeated prediction id replaces its label (audited)."""
    if source not in SOURCES:
        raise InvalidInput(f"feedback source must be one of {SOURCES}, got {source!r}")
    checked = [
        checked_label(lab.prediction_id, lab.label, lab.endpoint, f"label #{i}")
        for i, lab in enumerate(labels)
    ]
    return FeedbackStore(reg.store).add(checked, source, actor)


def waiting_labels(reg: Registry, limit: int | None = None) -> list[StoredLabel]:
    """Labels not joined to the prediction log yet, oldest first."""
    return FeedbackStore(reg.store).unjoined(limit)


def record_joins(reg: Registry, joins: Iterable[Row]) -> int:
    """Fill in what the prediction log knows about labelled predictions (``prediction_id``,
    ``endpoint``, ``version_id``, ``predicted_at``, ``output``, ``input``); how many."""
    return FeedbackStore(reg.store).mark_joined(joins)


def joined_labels(reg: Registry, endpoint: str | None = None) -> list[StoredLabel]:
    """Labels joined to their prediction (of one endpoint, or all), oldest prediction first."""
    return FeedbackStore(reg.store).joined(endpoint)


def joined_count(reg: Registry, prediction_ids: Sequence[str]) -> int:
    """How many of these predictions have a label joined to the prediction log."""
    return len(FeedbackStore(reg.store).joined_ids(prediction_ids))


def label_of(reg: Registry, prediction_id: str) -> StoredLabel:
    """The label recorded for one prediction (NotFound when there is none)."""
    return FeedbackStore(reg.store).get(prediction_id)


def review_items(
    reg: Registry, endpoint: str | None = None, status: str = "pending", limit: int = 1000
) -> list[ReviewItem]:
    """Review items, oldest first; ``status`` is one of the review states or ``all``."""
    if status != "all" and status not in STATUSES:
        raise InvalidInput(
            f"review status must be one of {', '.join(STATUSES)} or all, got {status!r}"
        )
    return FeedbackStore(reg.store).review_items(
        endpoint, None if status == "all" else status, limit
    )


def review_item(reg: Registry, item_id: int) -> ReviewItem:
    return FeedbackStore(reg.store).review_item(item_id)


def decide(
    reg: Registry, item_id: int, decision: str, reviewer: str, label: Any = None
) -> ReviewItem:
    """Confirm the model's answer (no label: the answer becomes the label) or correct it with
    ``label``; the item, its label and the audit entry are written in one transaction."""
    if decision not in DECISIONS:
        raise InvalidInput(f"decision must be 'confirm' or 'correct', got {decision!r}")
    if decision == "correct":
        if label is None:
            raise InvalidInput("a correction needs the right label: 'label' is missing")
        label = check_label(label, f"review item #{item_id}")
    elif label is not None:
        raise InvalidInput("'confirm' takes no label (the model's answer becomes the label)")
    return FeedbackStore(reg.store).decide(item_id, decision, reviewer, label)
