"""Persistence for feedback labels and the human review queue.

A label is keyed by its prediction id: a later label for the same id replaces the earlier one
(and the replacement is audited, since it changes the figures quality is judged on). Labels
arrive before or long after their prediction is logged; a join pass fills in the version,
prediction time, output and input (``mark_joined``) so quality is computed per prediction
window. A review decision writes the item, its label and the audit entry in one transaction.
Labels, sources and decisions arrive checked (``modelyard.monitoring.feedback`` checks them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.sql.elements import ColumnElement

from modelyard.core.errors import Conflict, NotFound
from modelyard.core.feedback_records import (
    CONFIRMED,
    CORRECTED,
    PENDING,
    AddResult,
    Label,
    ReviewItem,
    StoredLabel,
)
from modelyard.store import schema as t
from modelyard.store.metadata import MetadataStore, Row, now

_CHUNK = 500


class FeedbackStore:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # ---- labels ----------------------------------------------------------------------------
    def add(self, labels: Sequence[Label], source: str, actor: str) -> AddResult:
        """Record labels (one transaction); a repeated prediction id replaces its label."""
        last = {lab.prediction_id: lab for lab in labels}
        for attempt in range(3):  # a concurrent writer may insert the same id first
            try:
                with self.store.tx() as conn:
                    new, replaced = self._put_many(conn, list(last.values()), source, actor)
                return AddResult(len(labels), new, replaced, len(last) - new - replaced)
            except SAIntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _put_many(
        self, conn: Connection, labels: list[Label], source: str, actor: str
    ) -> tuple[int, int]:
        existing: dict[str, StoredLabel] = {}
        for chunk in _chunks([lab.prediction_id for lab in labels]):
            q = select(t.feedback).where(t.feedback.c.prediction_id.in_(chunk))
            existing.update(
                {r["prediction_id"]: StoredLabel.from_row(r) for r in conn.execute(q).mappings()}
            )
        at = now()
        fresh = [
            {
                "prediction_id": lab.prediction_id,
                "endpoint": lab.endpoint,
                "label": lab.label,
                "source": source,
                "reviewer": None,
                "received_at": at,
            }
            for lab in labels
            if lab.prediction_id not in existing
        ]
        if fresh:
            conn.execute(insert(t.feedback), fresh)
        replaced = 0
        for lab in labels:
            old = existing.get(lab.prediction_id)
            if old is None or old.label == lab.label:
                continue
            self._replace(conn, old, lab.label, source, actor, None, lab.endpoint)
            replaced += 1
        return len(fresh), replaced

    def _replace(
        self,
        conn: Connection,
        old: StoredLabel,
        label: Any,
        source: str,
        actor: str,
        reviewer: str | None,
        endpoint: str | None,
    ) -> None:
        conn.execute(
            update(t.feedback)
            .where(t.feedback.c.id == old.id)
            .values(
                label=label,
                source=source,
                reviewer=reviewer,
                received_at=now(),
                endpoint=old.endpoint or endpoint,
            )
        )
        self.store.audit(
            conn,
            actor,
            "feedback.replace",
            f"prediction:{old.prediction_id}",
            f"label replaced ({old.source} → {source})",
            {"old": old.label, "new": label, "endpoint": old.endpoint or endpoint},
        )

    def get(self, prediction_id: str) -> StoredLabel:
        with self.store.tx() as conn:
            row = (
                conn.execute(select(t.feedback).where(t.feedback.c.prediction_id == prediction_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no feedback for prediction {prediction_id!r}")
        return StoredLabel.from_row(row)

    def unjoined(self, limit: int | None = None) -> list[StoredLabel]:
        q = select(t.feedback).where(t.feedback.c.version_id.is_(None)).order_by(t.feedback.c.id)
        if limit:
            q = q.limit(limit)
        with self.store.tx() as conn:
            return [StoredLabel.from_row(r) for r in conn.execute(q).mappings()]

    def mark_joined(self, joins: Iterable[Row]) -> int:
        """Fill in what the prediction log knows: ``prediction_id``, ``endpoint``,
        ``version_id``, ``predicted_at``, ``output`` and ``input`` (None when not sampled)."""
        n = 0
        with self.store.tx() as conn:
            for j in joins:
                done = conn.execute(
                    update(t.feedback)
                    .where(t.feedback.c.prediction_id == j["prediction_id"])
                    .values(
                        endpoint=j["endpoint"],
                        version_id=j["version_id"],
                        predicted_at=j["predicted_at"],
                        output=j["output"],
                        input=j.get("input"),
                    )
                )
                n += done.rowcount
        return n

    def joined(
        self,
        endpoint: str | None = None,
        version_id: int | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> list[StoredLabel]:
        """Joined labels whose prediction time is in [start, end), oldest prediction first."""
        c = t.feedback.c
        cond: list[ColumnElement[bool]] = [c.version_id.is_not(None)]
        if endpoint is not None:
            cond.append(c.endpoint == endpoint)
        if version_id is not None:
            cond.append(c.version_id == version_id)
        if start is not None:
            cond.append(c.predicted_at >= start)
        if end is not None:
            cond.append(c.predicted_at < end)
        q = select(t.feedback).where(and_(*cond)).order_by(c.predicted_at, c.id)
        with self.store.tx() as conn:
            return [StoredLabel.from_row(r) for r in conn.execute(q).mappings()]

    def joined_ids(self, prediction_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.store.tx() as conn:
            for chunk in _chunks(list(prediction_ids)):
                q = select(t.feedback.c.prediction_id).where(
                    and_(
                        t.feedback.c.prediction_id.in_(chunk), t.feedback.c.version_id.is_not(None)
                    )
                )
                found.update(r[0] for r in conn.execute(q))
        return found

    # ---- review queue ----------------------------------------------------------------------
    def enqueue(self, items: Sequence[Row], max_pending: int) -> int:
        """Queue items (prediction_id, endpoint, version_id, predicted_at, input, output,
        score, reason); each endpoint keeps at most ``max_pending`` pending items, and a
        prediction already queued is not queued again. Returns how many were queued."""
        if not items:
            return 0
        c = t.review_items.c
        queued = 0
        with self.store.tx() as conn:
            known: set[str] = set()
            for chunk in _chunks([i["prediction_id"] for i in items]):
                known.update(
                    r[0]
                    for r in conn.execute(select(c.prediction_id).where(c.prediction_id.in_(chunk)))
                )
            by_endpoint: dict[str, list[Row]] = {}
            for item in items:
                if item["prediction_id"] not in known:
                    known.add(item["prediction_id"])
                    by_endpoint.setdefault(item["endpoint"], []).append(item)
            for endpoint, rows in by_endpoint.items():
                pending = conn.execute(
                    select(func.count())
                    .select_from(t.review_items)
                    .where(and_(c.endpoint == endpoint, c.status == PENDING))
                ).scalar_one()
                room = max(max_pending - int(pending), 0)
                take = rows[:room]
                if take:
                    conn.execute(
                        insert(t.review_items),
                        [{**r, "status": PENDING, "label": None, "reviewer": None} for r in take],
                    )
                    queued += len(take)
        return queued

    def review_items(
        self, endpoint: str | None = None, status: str | None = PENDING, limit: int = 1000
    ) -> list[ReviewItem]:
        c = t.review_items.c
        q = select(t.review_items).order_by(c.id).limit(limit)
        if endpoint:
            q = q.where(c.endpoint == endpoint)
        if status:
            q = q.where(c.status == status)
        with self.store.tx() as conn:
            return [ReviewItem.from_row(r) for r in conn.execute(q).mappings()]

    def review_item(self, item_id: int) -> ReviewItem:
        with self.store.tx() as conn:
            row = (
                conn.execute(select(t.review_items).where(t.review_items.c.id == item_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no review item #{item_id}", hint="list them: `modelyard review list`")
        return ReviewItem.from_row(row)

    def decide(self, item_id: int, decision: str, reviewer: str, label: Any = None) -> ReviewItem:
        """Confirm the model's answer or correct it with ``label``: the item, its feedback label
        (source 'review', reviewer recorded) and an audit entry, in one transaction."""
        c = t.review_items.c
        with self.store.tx() as conn:
            found = conn.execute(select(t.review_items).where(c.id == item_id)).mappings().first()
            if found is None:
                raise NotFound(f"no review item #{item_id}", hint="`modelyard review list`")
            item = ReviewItem.from_row(found)
            if decision == "confirm":
                predicted = list((item.output or {}).get("predict") or [])
                if not predicted:
                    raise Conflict(f"review item #{item_id} has no predicted label to confirm")
                label = predicted[0] if len(predicted) == 1 else predicted
            status = CONFIRMED if decision == "confirm" else CORRECTED
            done = conn.execute(
                update(t.review_items)
                .where(and_(c.id == item_id, c.status == PENDING))
                .values(status=status, label=label, reviewer=reviewer, decided_at=now())
            )
            if done.rowcount != 1:
                raise Conflict(
                    f"review item #{item_id} was already decided ({item.status} by "
                    f"{item.reviewer})",
                    hint="a decided item is final; post a new label to /api/v1/feedback instead",
                )
            self._put_review_label(conn, item, label, reviewer)
            self.store.audit(
                conn,
                reviewer,
                f"review.{decision}",
                f"endpoint:{item.endpoint}",
                f"review item #{item_id} {status}",
                {"item": item_id, "prediction_id": item.prediction_id, "label": label},
            )
            row = conn.execute(select(t.review_items).where(c.id == item_id)).mappings().one()
        return ReviewItem.from_row(row)

    def _put_review_label(
        self, conn: Connection, item: ReviewItem, label: Any, reviewer: str
    ) -> None:
        joined = {
            "endpoint": item.endpoint,
            "version_id": item.version_id,
            "predicted_at": item.predicted_at,
            "output": item.output,
            "input": item.input or None,
        }
        old = (
            conn.execute(select(t.feedback).where(t.feedback.c.prediction_id == item.prediction_id))
            .mappings()
            .first()
        )
        if old is None:
            conn.execute(
                insert(t.feedback).values(
                    prediction_id=item.prediction_id,
                    label=label,
                    source="review",
                    reviewer=reviewer,
                    received_at=now(),
                    **joined,
                )
            )
            return
        stored = StoredLabel.from_row(old)
        self._replace(conn, stored, label, "review", reviewer, reviewer, item.endpoint)
        if stored.version_id is None:
            conn.execute(update(t.feedback).where(t.feedback.c.id == stored.id).values(**joined))


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]
