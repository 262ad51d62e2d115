"""Endpoints and routes: which versions serve where, the generation servers poll, and the
run-time overrides of an endpoint's settings.

Routes and the deployed state move together: setting a route deploys the version, removing a
version's last route sends it back to approved, and promoting to production demotes the old
champion in the same transaction (a partial unique index makes two champions impossible).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from modelyard.core.errors import InvalidInput
from modelyard.core.lifecycle import Role, State, check_deployable
from modelyard.core.records import Route
from modelyard.store import schema as t
from modelyard.store.audit import AuditChain
from modelyard.store.database import Database, now
from modelyard.store.versions import VersionStore

OVERRIDABLE = ("throttle",)


class RouteStore:
    def __init__(self, db: Database, chain: AuditChain, versions: VersionStore) -> None:
        self.db = db
        self.chain = chain
        self.versions = versions

    def _lock_endpoint(self, conn: Connection, endpoint: str) -> None:
        ep = t.endpoints
        pg = self.db.dialect == "postgresql"
        mine = select(ep.c.name).where(ep.c.name == endpoint)
        existing = conn.execute(mine.with_for_update() if pg else mine).first()
        if existing is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(ep).values(name=endpoint, generation=0, updated_at=now()))
            except SAIntegrityError:
                pass
            if pg:
                conn.execute(mine.with_for_update())

    @staticmethod
    def _bump(conn: Connection, endpoint: str) -> None:
        conn.execute(
            update(t.endpoints)
            .where(t.endpoints.c.name == endpoint)
            .values(generation=t.endpoints.c.generation + 1, updated_at=now())
        )

    def set(
        self, endpoint: str, version_id: int, role: Role, weight: float, actor: str, reason: str
    ) -> None:
        """Route a version on an endpoint. Promoting to production demotes the old champion
        in the same transaction; the partial unique index makes two champions impossible."""
        r = t.routes
        with self.db.tx() as conn:
            self._lock_endpoint(conn, endpoint)
            mv = self.versions.locked(conn, version_id)
            check_deployable(mv.state, what=mv.ref)
            if role is Role.PRODUCTION:
                olds = (
                    conn.execute(
                        select(r.c.model_version_id).where(
                            and_(r.c.endpoint == endpoint, r.c.role == Role.PRODUCTION.value)
                        )
                    )
                    .scalars()
                    .all()
                )
                for old_id in olds:
                    if old_id == version_id:
                        continue
                    conn.execute(
                        r.delete().where(
                            and_(r.c.endpoint == endpoint, r.c.model_version_id == old_id)
                        )
                    )
                    self._undeploy_if_unrouted(
                        conn, old_id, actor, f"replaced by {mv.ref} on {endpoint}"
                    )
            conn.execute(
                r.delete().where(and_(r.c.endpoint == endpoint, r.c.model_version_id == version_id))
            )
            conn.execute(
                insert(r).values(
                    endpoint=endpoint,
                    model_version_id=version_id,
                    role=role.value,
                    weight=weight,
                    created_at=now(),
                )
            )
            if mv.state != State.DEPLOYED.value:
                self.versions.move(conn, mv, State.DEPLOYED, actor, reason)
            self.chain.append(
                conn,
                actor,
                "endpoint.route",
                f"endpoint:{endpoint}",
                reason,
                {"version": mv.ref, "role": role.value, "weight": weight},
            )
            self._bump(conn, endpoint)

    def remove(self, endpoint: str, version_id: int, actor: str, reason: str) -> None:
        r = t.routes
        with self.db.tx() as conn:
            self._lock_endpoint(conn, endpoint)
            conn.execute(
                r.delete().where(and_(r.c.endpoint == endpoint, r.c.model_version_id == version_id))
            )
            self._undeploy_if_unrouted(conn, version_id, actor, reason)
            mv = self.versions.locked(conn, version_id)
            self.chain.append(
                conn,
                actor,
                "endpoint.unroute",
                f"endpoint:{endpoint}",
                reason,
                {"version": mv.ref},
            )
            self._bump(conn, endpoint)

    def _undeploy_if_unrouted(
        self, conn: Connection, version_id: int, actor: str, reason: str
    ) -> None:
        left = conn.execute(
            select(func.count())
            .select_from(t.routes)
            .where(t.routes.c.model_version_id == version_id)
        ).scalar()
        if left == 0:
            mv = self.versions.locked(conn, version_id)
            if mv.state == State.DEPLOYED.value:
                self.versions.move(conn, mv, State.APPROVED, actor, reason)

    def all(self, endpoint: str | None = None) -> list[Route]:
        """Every route (of one endpoint when given), by endpoint and age."""
        mv = t.model_versions
        q = (
            select(t.routes, mv.c.model_name, mv.c.version, mv.c.state)
            .join(mv, mv.c.id == t.routes.c.model_version_id)
            .order_by(t.routes.c.endpoint, t.routes.c.id)
        )
        if endpoint:
            q = q.where(t.routes.c.endpoint == endpoint)
        with self.db.tx() as conn:
            return [Route.from_row(r) for r in conn.execute(q).mappings()]

    def generation(self, endpoint: str) -> int:
        with self.db.tx() as conn:
            gen = conn.execute(
                select(t.endpoints.c.generation).where(t.endpoints.c.name == endpoint)
            ).scalar()
        return int(gen or 0)

    def set_overrides(
        self, endpoint: str, overrides: dict[str, Any] | None, actor: str, reason: str
    ) -> int:
        """Set (or clear, with None) an endpoint's run-time overrides of its project-file
        settings; audited as ``endpoint.overrides`` and the generation bumped in the same
        transaction, so running servers apply them at their next refresh. Returns the new
        generation. Shape: ``{"throttle": {...ThrottleConfig fields...}}``."""
        clean = validate_overrides(overrides)
        with self.db.tx() as conn:
            self._lock_endpoint(conn, endpoint)
            conn.execute(
                update(t.endpoints).where(t.endpoints.c.name == endpoint).values(overrides=clean)
            )
            self.chain.append(
                conn,
                actor,
                "endpoint.overrides",
                f"endpoint:{endpoint}",
                reason,
                {"overrides": clean},
            )
            self._bump(conn, endpoint)
            gen = conn.execute(
                select(t.endpoints.c.generation).where(t.endpoints.c.name == endpoint)
            ).scalar_one()
        return int(gen)

    def overrides(self, endpoint: str) -> dict[str, Any] | None:
        """The endpoint's run-time overrides document (None when there are none)."""
        with self.db.tx() as conn:
            found = conn.execute(
                select(t.endpoints.c.overrides).where(t.endpoints.c.name == endpoint)
            ).scalar()
        return dict(found) if found else None


def validate_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Check an overrides document and return it normalised (unset fields dropped).

    Raises InvalidInput naming the key and the rule; ``None`` or ``{}`` clears overrides.
    """
    from pydantic import ValidationError

    from modelyard.core.endpoint_config import ThrottleConfig

    if overrides is None:
        return None
    if not isinstance(overrides, Mapping):
        raise InvalidInput(
            f"endpoint overrides: expected an object, got {type(overrides).__name__}",
            hint='e.g. {"throttle": {"rate_per_s": 5}}',
        )
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise InvalidInput(
            f"endpoint overrides: unknown key {unknown[0]!r}; overridable: "
            + ", ".join(OVERRIDABLE),
            hint='e.g. {"throttle": {"rate_per_s": 5}}',
        )
    out: dict[str, Any] = {}
    throttle = overrides.get("throttle")
    if throttle is not None:
        if not isinstance(throttle, Mapping):
            raise InvalidInput(
                f"endpoint overrides: throttle must be an object, got {type(throttle).__name__}"
            )
        try:
            cfg = ThrottleConfig.model_validate(dict(throttle))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(
                f"endpoint overrides: throttle.{where}: {first['msg']} "
                f"(got {first.get('input')!r})",
                hint="fields: max_concurrency (int ≥ 1), rate_per_s (> 0), burst (int ≥ 1), "
                "per_token {rate_per_s, burst, max_concurrency, max_tokens}",
            ) from None
        out["throttle"] = cfg.model_dump(mode="json", exclude_unset=True)
    return out or None
