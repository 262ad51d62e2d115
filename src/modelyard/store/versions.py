"""Model versions and their lifecycle: registration, checked transitions and their history.

Moving a version to ``deployed`` belongs to the routes (``store.routes``): a version that has
routes may only move to a state that may keep serving.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection

from modelyard.core.errors import Conflict, NotFound
from modelyard.core.lifecycle import ROUTABLE, State, check_transition
from modelyard.core.records import ModelVersion, Transition
from modelyard.store import schema as t
from modelyard.store.artifact_index import ArtifactIndex
from modelyard.store.audit import AuditChain
from modelyard.store.database import Database, now


class VersionStore:
    def __init__(self, db: Database, chain: AuditChain) -> None:
        self.db = db
        self.chain = chain

    def add(self, values: Mapping[str, Any], actor: str, reason: str) -> ModelVersion:
        """Register the next version of ``values["model_name"]``, proposed."""

        def go(conn: Connection) -> ModelVersion:
            version = (
                conn.execute(
                    select(func.max(t.model_versions.c.version)).where(
                        t.model_versions.c.model_name == values["model_name"]
                    )
                ).scalar()
                or 0
            ) + 1
            row = {**values, "version": version, "state": State.PROPOSED.value, "created_at": now()}
            ArtifactIndex.record(conn, values["artifact_digest"], values["size_bytes"], "model")
            new_id = conn.execute(insert(t.model_versions).values(**row)).inserted_primary_key[0]  # type: ignore[index]
            conn.execute(
                insert(t.transitions).values(
                    model_version_id=new_id,
                    from_state=None,
                    to_state=State.PROPOSED.value,
                    actor=actor,
                    reason=reason,
                    at=row["created_at"],
                )
            )
            self.chain.append(
                conn,
                actor,
                "model.register",
                f"model:{values['model_name']}@{version}",
                reason,
                {
                    "digest": values["artifact_digest"],
                    "flavor": values["flavor"],
                    "trusted": bool(values["trusted"]),
                    "run": values.get("run_id"),
                },
            )
            if values["trusted"]:  # who vouched for code that may run at load, and when
                info = (values.get("card") or {}).get("flavor_info") or {}
                self.chain.append(
                    conn,
                    actor,
                    "model.trust",
                    f"model:{values['model_name']}@{version}",
                    "registered with trust=True: its artifact may run code when loaded",
                    {
                        "digest": values["artifact_digest"],
                        "flavor": values["flavor"],
                        "types": list(info.get("trusted_types") or []),
                    },
                )
            return ModelVersion.from_row({**row, "id": new_id})

        return self.db.retrying_insert(go)

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        """``name@version``, or the newest version of ``name``."""
        mv = t.model_versions
        q = select(mv).where(mv.c.model_name == name)
        q = q.where(mv.c.version == version) if version else q.order_by(mv.c.version.desc())
        with self.db.tx() as conn:
            row = conn.execute(q.limit(1)).mappings().first()
        if row is None:
            names = self.model_names()
            what = f"{name}@{version}" if version else name
            raise NotFound(
                f"no model version {what}",
                hint=f"known models: {', '.join(names) or 'none yet'}",
            )
        return ModelVersion.from_row(row)

    def by_id(self, version_id: int) -> ModelVersion:
        with self.db.tx() as conn:
            return self.locked(conn, version_id, lock=False)

    def model_names(self) -> list[str]:
        q = select(t.model_versions.c.model_name).distinct().order_by(t.model_versions.c.model_name)
        with self.db.tx() as conn:
            return list(conn.execute(q).scalars())

    def all(self, name: str | None = None) -> list[ModelVersion]:
        mv = t.model_versions
        q = select(mv).order_by(mv.c.model_name, mv.c.version)
        if name:
            q = q.where(mv.c.model_name == name)
        with self.db.tx() as conn:
            return [ModelVersion.from_row(r) for r in conn.execute(q).mappings()]

    def of_run(self, run_id: str) -> list[ModelVersion]:
        q = select(t.model_versions).where(t.model_versions.c.run_id == run_id)
        with self.db.tx() as conn:
            return [ModelVersion.from_row(r) for r in conn.execute(q).mappings()]

    def locked(self, conn: Connection, version_id: int, *, lock: bool = True) -> ModelVersion:
        """The version, locked (PostgreSQL) until the caller's transaction ends."""
        q = select(t.model_versions).where(t.model_versions.c.id == version_id)
        if lock and self.db.dialect == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).mappings().first()
        if row is None:
            raise NotFound(f"no model version with id {version_id}")
        return ModelVersion.from_row(row)

    # ---- the lifecycle -----------------------------------------------------------------
    def move(
        self, conn: Connection, mv: ModelVersion, target: State, actor: str, reason: str
    ) -> None:
        """Move ``mv`` to ``target`` if the lifecycle allows it, with no check of its routes
        (the route changes call this), audited and recorded in the caller's transaction."""
        check_transition(mv.state, target, what=mv.ref)
        m = t.model_versions
        # compare-and-set on the state: a concurrent writer that moved it first makes this fail
        done = conn.execute(
            update(m).where(and_(m.c.id == mv.id, m.c.state == mv.state)).values(state=target.value)
        )
        if done.rowcount != 1:
            raise Conflict(f"{mv.ref} changed state concurrently; retry")
        self.chain.append(
            conn,
            actor,
            "model.transition",
            f"model:{mv.ref}",
            reason,
            {"from": mv.state, "to": target.value},
        )
        conn.execute(
            insert(t.transitions).values(
                model_version_id=mv.id,
                from_state=mv.state,
                to_state=target.value,
                actor=actor,
                reason=reason,
                at=now(),
            )
        )

    def transition(self, version_id: int, target: State, actor: str, reason: str) -> ModelVersion:
        with self.db.tx() as conn:
            mv = self.locked(conn, version_id)
            self.transition_in(conn, mv, target, actor, reason)
        return self.by_id(version_id)

    def transition_in(
        self, conn: Connection, mv: ModelVersion, target: State, actor: str, reason: str
    ) -> None:
        """A checked transition of ``mv`` (read with ``locked``) inside the caller's
        transaction, so a decision and the transition it causes commit together or not at all."""
        check_transition(mv.state, target, what=mv.ref)
        # routes and the deployed state move together: only set_route deploys, and a
        # version that still has routes may only move to a state that may keep serving
        routed = (
            conn.execute(select(t.routes.c.endpoint).where(t.routes.c.model_version_id == mv.id))
            .scalars()
            .all()
        )
        if State(target) is State.DEPLOYED:
            raise Conflict(
                f"cannot move {mv.ref} to deployed directly",
                hint="deploy it to an endpoint (set a route); that marks it deployed",
            )
        if routed and State(target) not in ROUTABLE:
            raise Conflict(
                f"cannot move {mv.ref} to {State(target).value}: it still serves on "
                f"{', '.join(sorted(routed))}",
                hint="undeploy it from those endpoints first",
            )
        self.move(conn, mv, target, actor, reason)

    def transitions_of(self, version_id: int) -> list[Transition]:
        q = (
            select(t.transitions)
            .where(t.transitions.c.model_version_id == version_id)
            .order_by(t.transitions.c.id)
        )
        with self.db.tx() as conn:
            return [Transition.from_row(r) for r in conn.execute(q).mappings()]
