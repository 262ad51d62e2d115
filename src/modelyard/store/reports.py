"""Reports recorded for model versions (gate runs and others), each audited as it is added."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select

from modelyard.core.records import ReportRecord
from modelyard.store import schema as t
from modelyard.store.artifact_index import ArtifactIndex
from modelyard.store.audit import AuditChain
from modelyard.store.database import Database, now


class ReportStore:
    def __init__(self, db: Database, chain: AuditChain) -> None:
        self.db = db
        self.chain = chain

    def add(self, values: Mapping[str, Any]) -> int:
        """Record a report (``artifact_digest``/``html_digest`` with their ``*_size`` are
        indexed as artifacts) and return its id."""
        with self.db.tx() as conn:
            for key in ("artifact_digest", "html_digest"):
                if values.get(key):
                    ArtifactIndex.record(conn, values[key], values.get(f"{key}_size", 0), "report")
            clean = {k: v for k, v in values.items() if not k.endswith("_size")}
            mv = conn.execute(
                select(t.model_versions.c.model_name, t.model_versions.c.version).where(
                    t.model_versions.c.id == values["model_version_id"]
                )
            ).one()
            self.chain.append(
                conn,
                values["created_by"],
                f"report.{values['kind']}",
                f"model:{mv.model_name}@{mv.version}",
                f"{values['kind']} report: {'pass' if values.get('passed') else 'fail'}",
                {"passed": values.get("passed"), "json_digest": values.get("artifact_digest")},
            )
            result = conn.execute(insert(t.reports).values(created_at=now(), **clean))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def of(self, version_id: int) -> list[ReportRecord]:
        """The version's reports, oldest first."""
        q = (
            select(t.reports)
            .where(t.reports.c.model_version_id == version_id)
            .order_by(t.reports.c.id)
        )
        with self.db.tx() as conn:
            return [ReportRecord.from_row(r) for r in conn.execute(q).mappings()]
