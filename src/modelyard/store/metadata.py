"""The metadata store: the database and one repository per aggregate over it.

``MetadataStore(url)`` only stores the URL and builds the repositories; ``open()`` creates the
engine and migrates the schema. Services reach the rows through the repositories
(``store.datasets``, ``store.runs``, ``store.versions``, ``store.routes``, ``store.reports``,
``store.artifacts``, ``store.chain``); the other stores (alerts, feedback, ...) take the store
itself for ``tx()`` and ``audit()``. Nothing here knows about scikit-learn, HTTP or the CLI.
Every write is one transaction, so a crash leaves either the whole change or none of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from modelyard.store.artifact_index import ArtifactIndex
from modelyard.store.audit import AuditChain, with_principal
from modelyard.store.database import Database, Row, now
from modelyard.store.datasets import DatasetStore
from modelyard.store.reports import ReportStore
from modelyard.store.routes import RouteStore
from modelyard.store.runs import RunStore
from modelyard.store.versions import VersionStore

__all__ = ["MetadataStore", "Row", "now", "with_principal"]


class MetadataStore(Database):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.chain = AuditChain(self)
        self.artifacts = ArtifactIndex(self)
        self.datasets = DatasetStore(self, self.chain)
        self.runs = RunStore(self, self.chain)
        self.versions = VersionStore(self, self.chain)
        self.routes = RouteStore(self, self.chain, self.versions)
        self.reports = ReportStore(self, self.chain)

    def audit(
        self,
        conn: Connection,
        actor: str,
        action: str,
        target: str,
        reason: str,
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """Record who did what in the audit chain, in the caller's transaction."""
        return self.chain.append(conn, actor, action, target, reason, data)
