"""Dataset versions: content-addressed, numbered per name, retaggable but never rewritten."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection

from modelyard.core.errors import NotFound
from modelyard.core.records import DatasetVersion
from modelyard.store import schema as t
from modelyard.store.artifact_index import ArtifactIndex
from modelyard.store.audit import AuditChain
from modelyard.store.database import Database, now


class DatasetStore:
    def __init__(self, db: Database, chain: AuditChain) -> None:
        self.db = db
        self.chain = chain

    def add(self, values: Mapping[str, Any], artifact_size: int) -> DatasetVersion:
        """Insert a dataset version; if the same content exists under the name, return it.
        ``created`` on the result says which happened."""

        def go(conn: Connection) -> DatasetVersion:
            same = (
                conn.execute(
                    select(t.datasets).where(
                        and_(
                            t.datasets.c.name == values["name"],
                            t.datasets.c.digest == values["digest"],
                        )
                    )
                )
                .mappings()
                .first()
            )
            if same is not None:
                return DatasetVersion.from_row(same)
            version = (
                conn.execute(
                    select(func.max(t.datasets.c.version)).where(
                        t.datasets.c.name == values["name"]
                    )
                ).scalar()
                or 0
            ) + 1
            row = {**values, "version": version, "created_at": now()}
            ArtifactIndex.record(conn, values["artifact_digest"], artifact_size, "dataset")
            new_id = conn.execute(insert(t.datasets).values(**row)).inserted_primary_key[0]  # type: ignore[index]
            self.chain.append(
                conn,
                values["created_by"],
                "dataset.register",
                f"dataset:{values['name']}@{version}",
                f"registered from {values.get('source')}",
                {"digest": values["digest"]},
            )
            return DatasetVersion.from_row({**row, "id": new_id, "created": True})

        return self.db.retrying_insert(go)

    def retag(
        self,
        dataset_id: int,
        schema: Mapping[str, Any],
        profile: Mapping[str, Any],
        actor: str,
        changes: Mapping[str, Any],
    ) -> None:
        """Replace a dataset version's tags (its schema and profile; never its content or
        digest), audited in the same transaction."""
        with self.db.tx() as conn:
            row = conn.execute(
                select(t.datasets.c.name, t.datasets.c.version).where(t.datasets.c.id == dataset_id)
            ).first()
            if row is None:
                raise NotFound(f"no dataset with id {dataset_id}")
            conn.execute(
                update(t.datasets)
                .where(t.datasets.c.id == dataset_id)
                .values(schema=dict(schema), profile=dict(profile))
            )
            self.chain.append(
                conn,
                actor,
                "dataset.tag",
                f"dataset:{row.name}@{row.version}",
                "tags changed: " + "; ".join(f"{k} {v}" for k, v in changes.items()),
                {"changes": dict(changes)},
            )

    def get(self, name: str, version: int | None = None) -> DatasetVersion:
        q = select(t.datasets).where(t.datasets.c.name == name)
        q = (
            q.where(t.datasets.c.version == version)
            if version
            else q.order_by(t.datasets.c.version.desc())
        )
        with self.db.tx() as conn:
            row = conn.execute(q.limit(1)).mappings().first()
        if row is None:
            known = self.names()
            what = f"{name}@{version}" if version else name
            raise NotFound(
                f"no dataset {what}",
                hint=f"known datasets: {', '.join(known) or 'none yet (modelyard data add)'}",
            )
        return DatasetVersion.from_row(row)

    def by_id(self, dataset_id: int) -> DatasetVersion:
        with self.db.tx() as conn:
            row = (
                conn.execute(select(t.datasets).where(t.datasets.c.id == dataset_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no dataset with id {dataset_id}")
        return DatasetVersion.from_row(row)

    def names(self) -> list[str]:
        with self.db.tx() as conn:
            return list(
                conn.execute(
                    select(t.datasets.c.name).distinct().order_by(t.datasets.c.name)
                ).scalars()
            )

    def all(self, name: str | None = None) -> list[DatasetVersion]:
        q = select(t.datasets).order_by(t.datasets.c.name, t.datasets.c.version)
        if name:
            q = q.where(t.datasets.c.name == name)
        with self.db.tx() as conn:
            return [DatasetVersion.from_row(r) for r in conn.execute(q).mappings()]
