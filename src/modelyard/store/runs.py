"""Training runs as recorded: the run row, its metric points and its input datasets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from modelyard.core.errors import Conflict, NotFound
from modelyard.core.records import DatasetUse, DatasetVersion, MetricPoint, RunInput, RunRecord
from modelyard.store import schema as t
from modelyard.store.artifact_index import ArtifactIndex
from modelyard.store.audit import AuditChain
from modelyard.store.database import Database

# Hot statements built once (per-call construction dominated the cost of logging runs).
_RUN_ADD = insert(t.runs)
_RUN_SET = update(t.runs).where(t.runs.c.id == bindparam("rid"))
_METRICS_ADD = insert(t.run_metrics)


class RunStore:
    def __init__(self, db: Database, chain: AuditChain) -> None:
        self.db = db
        self.chain = chain

    def create(
        self, values: Mapping[str, Any], artifact: tuple[str, int, str] | None = None
    ) -> None:
        with self.db.tx() as conn:
            conn.execute(_RUN_ADD, dict(values))
            if artifact is not None:
                ArtifactIndex.record(conn, *artifact)
            self.chain.append(
                conn,
                values["created_by"],
                "run.start",
                f"run:{values['id']}",
                f"training run for model {values['model_name']}",
            )

    def update(self, run_id: str, **values: Any) -> None:
        with self.db.tx() as conn:
            conn.execute(_RUN_SET, {"rid": run_id, **values})
            if values.get("status") in ("finished", "failed", "killed"):
                actor = conn.execute(
                    select(t.runs.c.created_by).where(t.runs.c.id == run_id)
                ).scalar_one()
                self.chain.append(
                    conn, actor, f"run.{values['status']}", f"run:{run_id}", "run ended"
                )

    def add_input(self, run_id: str, dataset_id: int, role: str) -> None:
        with self.db.tx() as conn:
            found = conn.execute(
                select(t.run_inputs).where(
                    and_(
                        t.run_inputs.c.run_id == run_id,
                        t.run_inputs.c.dataset_id == dataset_id,
                        t.run_inputs.c.role == role,
                    )
                )
            ).first()
            if found is None:
                conn.execute(
                    insert(t.run_inputs).values(run_id=run_id, dataset_id=dataset_id, role=role)
                )

    def log_metrics(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        batch = [{"run_id": run_id, **r} for r in rows]
        if batch:
            with self.db.tx() as conn:
                conn.execute(_METRICS_ADD, batch)

    def get(self, run_id: str) -> RunRecord:
        """The run whose id is or starts with ``run_id`` (a unique prefix resolves)."""
        with self.db.tx() as conn:
            q = select(t.runs).where(t.runs.c.id.startswith(run_id)).limit(2)
            rows = [RunRecord.from_row(r) for r in conn.execute(q).mappings()]
        if not rows:
            raise NotFound(f"no run {run_id!r}", hint="list runs with `modelyard runs list`")
        if len(rows) > 1 and rows[0].id != run_id:
            raise Conflict(f"run id prefix {run_id!r} is ambiguous; give more characters")
        return rows[0]

    @staticmethod
    def author(conn: Connection, run_id: str) -> str:
        """Who started the run, read in the caller's transaction: the principal, else (runs
        recorded before principals) ``legacy:<name>``."""
        row = conn.execute(
            select(t.runs.c.principal, t.runs.c.created_by).where(t.runs.c.id == run_id)
        ).one()
        return str(row.principal or f"legacy:{row.created_by}")

    def metrics(self, run_id: str) -> list[MetricPoint]:
        q = (
            select(t.run_metrics)
            .where(t.run_metrics.c.run_id == run_id)
            .order_by(t.run_metrics.c.id)
        )
        with self.db.tx() as conn:
            return [MetricPoint.from_row(r) for r in conn.execute(q).mappings()]

    def inputs(self, run_id: str) -> list[RunInput]:
        q = (
            select(t.run_inputs.c.role, t.datasets)
            .join(t.datasets, t.datasets.c.id == t.run_inputs.c.dataset_id)
            .where(t.run_inputs.c.run_id == run_id)
            .order_by(t.datasets.c.name)
        )
        with self.db.tx() as conn:
            return [
                RunInput(r["role"], DatasetVersion.from_row(r)) for r in conn.execute(q).mappings()
            ]

    def all(self, model: str | None = None, limit: int = 100) -> list[RunRecord]:
        """The newest runs first (of one model when ``model`` is given)."""
        q = select(t.runs).order_by(t.runs.c.started_at.desc()).limit(limit)
        if model:
            q = q.where(t.runs.c.model_name == model)
        with self.db.tx() as conn:
            return [RunRecord.from_row(r) for r in conn.execute(q).mappings()]

    def using_dataset(self, dataset_id: int) -> list[DatasetUse]:
        """The runs that declared the dataset version, oldest first, with the role."""
        q = (
            select(t.runs, t.run_inputs.c.role.label("input_role"))
            .join(t.run_inputs, t.run_inputs.c.run_id == t.runs.c.id)
            .where(t.run_inputs.c.dataset_id == dataset_id)
            .order_by(t.runs.c.started_at)
        )
        with self.db.tx() as conn:
            return [
                DatasetUse(r["input_role"], RunRecord.from_row(r))
                for r in conn.execute(q).mappings()
            ]
