"""The metadata store: one class of small, transactional operations over the tables.

Services call these; nothing here knows about scikit-learn, HTTP or the CLI. Every write is one
transaction, so a crash leaves either the whole change or none of it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import Engine, and_, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from modelyard.core import audit as chain_rules
from modelyard.core.errors import ConfigError, Conflict, InvalidInput, ModelyardError, NotFound
from modelyard.core.identity import OVERRIDE, acting_principal
from modelyard.core.lifecycle import ROUTABLE, Role, State, check_transition
from modelyard.store import audit_log
from modelyard.store import schema as t
from modelyard.store.audit_anchor import Anchor
from modelyard.store.db import create_store_engine, migrate

# Hot statements built once (per-call construction dominated the cost of logging runs).
_ARTIFACT_KNOWN = select(t.artifacts.c.digest).where(t.artifacts.c.digest == bindparam("d"))
_ARTIFACT_ADD = insert(t.artifacts)
_RUN_ADD = insert(t.runs)
_RUN_SET = update(t.runs).where(t.runs.c.id == bindparam("rid"))
_METRICS_ADD = insert(t.run_metrics)


log = logging.getLogger("modelyard.audit")
KEY_TARGET = "audit:signing-key"


class AuditChainBroken(ModelyardError):
    """The chain does not verify, so it is not checkpointed."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


Row = dict[str, Any]


def with_principal(data: Mapping[str, Any] | None, principal: str | None) -> dict[str, Any]:
    out = dict(data or {})
    if principal and "principal" not in out:
        out["principal"] = principal
    if OVERRIDE in str(out.get("principal", "")):
        out["identity"] = "override"  # MODELYARD_USER under `identity: os`
    return out


def _row(r: RowMapping | None) -> Row | None:
    return dict(r) if r is not None else None


class MetadataStore:
    def __init__(self, url: str, *, auto_migrate: bool = True) -> None:
        self.url = url
        self.engine: Engine = create_store_engine(url)
        self.signer: Any = None  # an Ed25519 private key signs audit entries when set
        self.declared_key: str | None = None  # the chain's signing key (declare_signing_key)
        # Checkpoints of the chain go to these anchors every ``checkpoint_every`` entries.
        self.anchors: list[Anchor] = []
        self.checkpoint_every = 0
        self._verified: chain_rules.ChainState | None = None  # verified up to here
        self._checkpoint_lock = threading.Lock()
        self._local = threading.local()
        # the principal recorded with entries written outside a request (the registry sets
        # its local actor's); a request's principal (core.identity.acting) takes precedence
        self.principal: str | None = None
        if auto_migrate:
            migrate(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def audit(
        self,
        conn: Connection,
        actor: str,
        action: str,
        target: str,
        reason: str,
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """Record who did what, in the same transaction as the change itself. The entry's data
        carries the acting principal (covered by the entry's hash and signature)."""
        if self.signer is None and self.declared_key is not None:
            raise ConfigError(
                f"the audit chain is signed (key {self.declared_key[:16]}…) but no signing key "
                "is configured, so this change cannot be recorded",
                hint="set MODELYARD_AUDIT_KEY_FILE to the audit key",
            )
        seq, _ = audit_log.append(
            conn,
            actor=actor,
            action=action,
            target=target,
            reason=reason,
            data=with_principal(data, acting_principal() or self.principal),
            at=now(),
            signer=self.signer,
        )
        if self.anchors and self.checkpoint_every and seq % self.checkpoint_every == 0:
            self._local.checkpoint_due = True  # written once this transaction commits
        return seq

    # ---- the signing key, declared in the chain -------------------------------------------
    def _chain_key(self) -> str | None:
        keys = self.audit_entries(target_prefix=KEY_TARGET, action=chain_rules.KEY_ACTION)
        return keys[-1]["data"].get("public_key") if keys else None

    def declare_signing_key(self, actor: str) -> None:
        """Bind the configured signer to the chain. The first key is declared by an audited
        ``audit.key`` entry (signing may start long after ``init``); a different key than the
        chain's is refused here: rotating needs the current key (``rotate_signing_key``)."""
        declared = self._chain_key()
        self.declared_key = declared
        if self.signer is None:
            return
        mine = chain_rules.public_key_hex(self.signer)
        if declared == mine:
            return
        if declared is not None:
            raise ConfigError(
                f"the configured audit key {mine[:16]}… is not the chain's signing key "
                f"{declared[:16]}…",
                hint="configure the current key; rotate with "
                "`modelyard audit rotate-key --new NEW.pem`",
            )
        with self.tx() as conn:
            self.audit(
                conn,
                actor,
                chain_rules.KEY_ACTION,
                KEY_TARGET,
                "audit signing switched on",
                {"public_key": mine, "previous": None},
            )
        self.declared_key = mine

    def rotate_signing_key(self, new_key: Any, actor: str, reason: str) -> int:
        """Hand signing over to ``new_key``: an ``audit.key`` entry signed by the current key."""
        if self.signer is None or self.declared_key is None:
            raise ConfigError(
                "rotating the audit key needs the current key",
                hint="set MODELYARD_AUDIT_KEY_FILE to the key in use",
            )
        new = chain_rules.public_key_hex(new_key)
        if new == self.declared_key:
            raise InvalidInput("the new audit key is the key in use; generate a new one")
        with self.tx() as conn:
            seq, _ = audit_log.append(
                conn,
                actor=actor,
                action=chain_rules.KEY_ACTION,
                target=KEY_TARGET,
                reason=reason,
                data={"public_key": new, "previous": self.declared_key},
                at=now(),
                signer=self.signer,
                head_signer=new_key,
            )
        self.signer, self.declared_key = new_key, new
        return seq

    # ---- checkpoints: the anchor outside the database ---------------------------------------
    def checkpoint(self) -> chain_rules.Checkpoint:
        """Verify the chain since the last verified point (a checkpoint of this process, else
        the newest anchored one, else the start) and write a checkpoint of its head to every
        anchor. A chain that does not verify is never checkpointed (AuditChainBroken)."""
        with self._checkpoint_lock:
            state = self._verified.copy() if self._verified else self._resume_from_anchor()
            try:
                rows, head = self.audit_chain(after=state.seq)
                chain_rules.walk(rows, state)
                chain_rules.check_head(state, head)
            except chain_rules.Broken as b:
                self._verified = None
                raise AuditChainBroken(
                    f"audit chain broken at entry {b.seq}: {b.problem}; not checkpointed"
                ) from None
            cp = chain_rules.make_checkpoint(state.seq, state.hash, self.signer)
            for anchor in self.anchors:
                anchor.write(cp)
            self._verified = state
            return cp

    def _resume_from_anchor(self) -> chain_rules.ChainState:
        newest: list[chain_rules.Checkpoint] = []
        for anchor in self.anchors:
            newest += anchor.newest()
        if not newest:
            return chain_rules.ChainState()
        top = max(cp.seq for cp in newest)
        tops = {cp.hash: cp for cp in newest if cp.seq == top}
        if len(tops) > 1:
            raise AuditChainBroken(f"the anchors disagree on the hash of entry {top}")
        (cp,) = tops.values()
        if cp.key and not cp.signed_by(chain_rules.load_public_key(cp.key)):
            raise AuditChainBroken(f"checkpoint {cp.seq} ({cp.source}) has an invalid signature")
        with self.tx() as conn:
            actual = audit_log.hash_at(conn, cp.seq)
        if actual != cp.hash:
            raise AuditChainBroken(
                f"audit chain broken at entry {cp.seq}: it differs from checkpoint {cp.seq} "
                f"({cp.source}); not checkpointed"
            )
        return chain_rules.ChainState(cp.seq, cp.hash, cp.key, keys={cp.key} if cp.key else set())

    def _checkpoint_quietly(self) -> None:
        try:
            self.checkpoint()
        except ModelyardError as exc:
            log.error("audit checkpoint not written: %s", exc.message)
        except Exception:
            log.exception("audit checkpoint not written")

    def audit_entries(
        self,
        target_prefix: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        with self.tx() as conn:
            return list(audit_log.entries(conn, target_prefix, actor, action, limit))

    def audit_chain(self, after: int = 0) -> tuple[list[Row], Row | None]:
        """Entries after ``after`` and the head, read in one snapshot (REPEATABLE READ on
        PostgreSQL; SQLite transactions here are serialised already)."""
        if self.dialect == "postgresql":
            with (
                self.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
                conn.begin(),
            ):
                return audit_log.chain(conn, after)
        with self.tx() as conn:
            return audit_log.chain(conn, after)

    @contextlib.contextmanager
    def tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except BaseException:
            self._local.checkpoint_due = False
            raise
        if getattr(self._local, "checkpoint_due", False):
            self._local.checkpoint_due = False
            self._checkpoint_quietly()

    def _retrying_insert(self, fn: Any, attempts: int = 20) -> Any:
        """Run ``fn`` in a fresh transaction, retrying when a unique version number collides."""
        for attempt in range(attempts):
            try:
                with self.tx() as conn:
                    return fn(conn)
            except SAIntegrityError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    # ---- artifacts -----------------------------------------------------------------------
    def record_artifact(self, conn: Connection, digest: str, size: int, kind: str) -> None:
        if conn.execute(_ARTIFACT_KNOWN, {"d": digest}).first() is None:
            conn.execute(
                _ARTIFACT_ADD,
                {"digest": digest, "size_bytes": size, "kind": kind, "created_at": now()},
            )

    def artifact_rows(self) -> list[Row]:
        with self.tx() as conn:
            return [dict(r) for r in conn.execute(select(t.artifacts)).mappings()]

    # ---- datasets ------------------------------------------------------------------------
    def add_dataset(self, values: Mapping[str, Any], artifact_size: int) -> tuple[Row, bool]:
        """Insert a dataset version; if the same content exists under the name, return it."""

        def go(conn: Connection) -> tuple[Row, bool]:
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
                return dict(same), False
            version = (
                conn.execute(
                    select(func.max(t.datasets.c.version)).where(
                        t.datasets.c.name == values["name"]
                    )
                ).scalar()
                or 0
            ) + 1
            row = {**values, "version": version, "created_at": now()}
            self.record_artifact(conn, values["artifact_digest"], artifact_size, "dataset")
            new_id = conn.execute(insert(t.datasets).values(**row)).inserted_primary_key[0]  # type: ignore[index]
            self.audit(
                conn,
                values["created_by"],
                "dataset.register",
                f"dataset:{values['name']}@{version}",
                f"registered from {values.get('source')}",
                {"digest": values["digest"]},
            )
            return {**row, "id": new_id}, True

        result: tuple[Row, bool] = self._retrying_insert(go)
        return result

    def retag_dataset(
        self,
        dataset_id: int,
        schema: Mapping[str, Any],
        profile: Mapping[str, Any],
        actor: str,
        changes: Mapping[str, Any],
    ) -> None:
        """Replace a dataset version's tags (its schema and profile; never its content or
        digest), audited in the same transaction."""
        with self.tx() as conn:
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
            self.audit(
                conn,
                actor,
                "dataset.tag",
                f"dataset:{row.name}@{row.version}",
                "tags changed: " + "; ".join(f"{k} {v}" for k, v in changes.items()),
                {"changes": dict(changes)},
            )

    def get_dataset(self, name: str, version: int | None = None) -> Row:
        q = select(t.datasets).where(t.datasets.c.name == name)
        q = (
            q.where(t.datasets.c.version == version)
            if version
            else q.order_by(t.datasets.c.version.desc())
        )
        with self.tx() as conn:
            row = _row(conn.execute(q.limit(1)).mappings().first())
        if row is None:
            known = self.dataset_names()
            what = f"{name}@{version}" if version else name
            raise NotFound(
                f"no dataset {what}",
                hint=f"known datasets: {', '.join(known) or 'none yet (modelyard data add)'}",
            )
        return row

    def get_dataset_by_id(self, dataset_id: int) -> Row:
        with self.tx() as conn:
            row = _row(
                conn.execute(select(t.datasets).where(t.datasets.c.id == dataset_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no dataset with id {dataset_id}")
        return row

    def dataset_names(self) -> list[str]:
        with self.tx() as conn:
            return list(
                conn.execute(
                    select(t.datasets.c.name).distinct().order_by(t.datasets.c.name)
                ).scalars()
            )

    def list_datasets(self, name: str | None = None) -> list[Row]:
        q = select(t.datasets).order_by(t.datasets.c.name, t.datasets.c.version)
        if name:
            q = q.where(t.datasets.c.name == name)
        with self.tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # ---- runs ----------------------------------------------------------------------------
    def create_run(
        self, values: Mapping[str, Any], artifact: tuple[str, int, str] | None = None
    ) -> None:
        with self.tx() as conn:
            conn.execute(_RUN_ADD, dict(values))
            if artifact is not None:
                self.record_artifact(conn, *artifact)
            self.audit(
                conn,
                values["created_by"],
                "run.start",
                f"run:{values['id']}",
                f"training run for model {values['model_name']}",
            )

    def update_run(self, run_id: str, **values: Any) -> None:
        with self.tx() as conn:
            conn.execute(_RUN_SET, {"rid": run_id, **values})
            if values.get("status") in ("finished", "failed", "killed"):
                actor = conn.execute(
                    select(t.runs.c.created_by).where(t.runs.c.id == run_id)
                ).scalar_one()
                self.audit(conn, actor, f"run.{values['status']}", f"run:{run_id}", "run ended")

    def add_run_input(self, run_id: str, dataset_id: int, role: str) -> None:
        with self.tx() as conn:
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
            with self.tx() as conn:
                conn.execute(_METRICS_ADD, batch)

    def get_run(self, run_id: str) -> Row:
        with self.tx() as conn:
            q = select(t.runs).where(t.runs.c.id.startswith(run_id)).limit(2)
            rows = [dict(r) for r in conn.execute(q).mappings()]
        if not rows:
            raise NotFound(f"no run {run_id!r}", hint="list runs with `modelyard runs list`")
        if len(rows) > 1 and rows[0]["id"] != run_id:
            raise Conflict(f"run id prefix {run_id!r} is ambiguous; give more characters")
        return rows[0]

    def run_metrics(self, run_id: str) -> list[Row]:
        q = (
            select(t.run_metrics)
            .where(t.run_metrics.c.run_id == run_id)
            .order_by(t.run_metrics.c.id)
        )
        with self.tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def run_inputs(self, run_id: str) -> list[Row]:
        q = (
            select(t.run_inputs.c.role, t.datasets)
            .join(t.datasets, t.datasets.c.id == t.run_inputs.c.dataset_id)
            .where(t.run_inputs.c.run_id == run_id)
            .order_by(t.datasets.c.name)
        )
        with self.tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def list_runs(self, model: str | None = None, limit: int = 100) -> list[Row]:
        q = select(t.runs).order_by(t.runs.c.started_at.desc()).limit(limit)
        if model:
            q = q.where(t.runs.c.model_name == model)
        with self.tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def runs_using_dataset(self, dataset_id: int) -> list[Row]:
        q = (
            select(t.runs, t.run_inputs.c.role)
            .join(t.run_inputs, t.run_inputs.c.run_id == t.runs.c.id)
            .where(t.run_inputs.c.dataset_id == dataset_id)
            .order_by(t.runs.c.started_at)
        )
        with self.tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # ---- model versions ------------------------------------------------------------------
    def add_model_version(self, values: Mapping[str, Any], actor: str, reason: str) -> Row:
        def go(conn: Connection) -> Row:
            version = (
                conn.execute(
                    select(func.max(t.model_versions.c.version)).where(
                        t.model_versions.c.model_name == values["model_name"]
                    )
                ).scalar()
                or 0
            ) + 1
            row = {**values, "version": version, "state": State.PROPOSED.value, "created_at": now()}
            self.record_artifact(conn, values["artifact_digest"], values["size_bytes"], "model")
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
            self.audit(
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
                self.audit(
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
            return {**row, "id": new_id}

        result: Row = self._retrying_insert(go)
        return result

    def get_model_version(self, name: str, version: int | None = None) -> Row:
        mv = t.model_versions
        q = select(mv).where(mv.c.model_name == name)
        q = q.where(mv.c.version == version) if version else q.order_by(mv.c.version.desc())
        with self.tx() as conn:
            row = _row(conn.execute(q.limit(1)).mappings().first())
        if row is None:
            names = self.model_names()
            what = f"{name}@{version}" if version else name
            raise NotFound(
                f"no model version {what}",
                hint=f"known models: {', '.join(names) or 'none yet'}",
            )
        return row

    def get_model_version_by_id(self, version_id: int) -> Row:
        with self.tx() as conn:
            row = _row(
                conn.execute(select(t.model_versions).where(t.model_versions.c.id == version_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no model version with id {version_id}")
        return row

    def model_names(self) -> list[str]:
        q = select(t.model_versions.c.model_name).distinct().order_by(t.model_versions.c.model_name)
        with self.tx() as conn:
            return list(conn.execute(q).scalars())

    def list_model_versions(self, name: str | None = None) -> list[Row]:
        mv = t.model_versions
        q = select(mv).order_by(mv.c.model_name, mv.c.version)
        if name:
            q = q.where(mv.c.model_name == name)
        with self.tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def versions_of_run(self, run_id: str) -> list[Row]:
        q = select(t.model_versions).where(t.model_versions.c.run_id == run_id)
        with self.tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def _transition(
        self, conn: Connection, row: Mapping[str, Any], target: State, actor: str, reason: str
    ) -> None:
        check_transition(row["state"], target, what=f"{row['model_name']}@{row['version']}")
        mv = t.model_versions
        # compare-and-set on the state: a concurrent writer that moved it first makes this fail
        done = conn.execute(
            update(mv)
            .where(and_(mv.c.id == row["id"], mv.c.state == row["state"]))
            .values(state=target.value)
        )
        if done.rowcount != 1:
            raise Conflict(
                f"{row['model_name']}@{row['version']} changed state concurrently; retry"
            )
        self.audit(
            conn,
            actor,
            "model.transition",
            f"model:{row['model_name']}@{row['version']}",
            reason,
            {"from": row["state"], "to": target.value},
        )
        conn.execute(
            insert(t.transitions).values(
                model_version_id=row["id"],
                from_state=row["state"],
                to_state=target.value,
                actor=actor,
                reason=reason,
                at=now(),
            )
        )

    def transition(self, version_id: int, target: State, actor: str, reason: str) -> Row:
        with self.tx() as conn:
            row = self._locked_version(conn, version_id)
            self.transition_in(conn, row, target, actor, reason)
        return self.get_model_version_by_id(version_id)

    def transition_in(
        self, conn: Connection, row: Mapping[str, Any], target: State, actor: str, reason: str
    ) -> None:
        """A checked transition of ``row`` (read with ``locked_version``) inside the caller's
        transaction, so a decision and the transition it causes commit together or not at all."""
        version_id = row["id"]
        what = f"{row['model_name']}@{row['version']}"
        check_transition(row["state"], target, what=what)
        # routes and the deployed state move together: only set_route deploys, and a
        # version that still has routes may only move to a state that may keep serving
        routed = (
            conn.execute(
                select(t.routes.c.endpoint).where(t.routes.c.model_version_id == version_id)
            )
            .scalars()
            .all()
        )
        if State(target) is State.DEPLOYED:
            raise Conflict(
                f"cannot move {what} to deployed directly",
                hint="deploy it to an endpoint (set a route); that marks it deployed",
            )
        if routed and State(target) not in ROUTABLE:
            raise Conflict(
                f"cannot move {what} to {State(target).value}: it still serves on "
                f"{', '.join(sorted(routed))}",
                hint="undeploy it from those endpoints first",
            )
        self._transition(conn, row, target, actor, reason)

    def locked_version(self, conn: Connection, version_id: int) -> Row:
        """The version's row, locked (PostgreSQL) until the caller's transaction ends."""
        return self._locked_version(conn, version_id)

    def _locked_version(self, conn: Connection, version_id: int) -> Row:
        q = select(t.model_versions).where(t.model_versions.c.id == version_id)
        if self.dialect == "postgresql":
            q = q.with_for_update()
        row = _row(conn.execute(q).mappings().first())
        if row is None:
            raise NotFound(f"no model version with id {version_id}")
        return row

    def transitions_of(self, version_id: int) -> list[Row]:
        q = (
            select(t.transitions)
            .where(t.transitions.c.model_version_id == version_id)
            .order_by(t.transitions.c.id)
        )
        with self.tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # ---- endpoints and routes ------------------------------------------------------------
    def _lock_endpoint(self, conn: Connection, endpoint: str) -> None:
        ep = t.endpoints
        existing = conn.execute(
            select(ep.c.name).where(ep.c.name == endpoint).with_for_update()
            if self.dialect == "postgresql"
            else select(ep.c.name).where(ep.c.name == endpoint)
        ).first()
        if existing is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(ep).values(name=endpoint, generation=0, updated_at=now()))
            except SAIntegrityError:
                pass
            if self.dialect == "postgresql":
                conn.execute(select(ep.c.name).where(ep.c.name == endpoint).with_for_update())

    def _bump(self, conn: Connection, endpoint: str) -> None:
        conn.execute(
            update(t.endpoints)
            .where(t.endpoints.c.name == endpoint)
            .values(generation=t.endpoints.c.generation + 1, updated_at=now())
        )

    def set_route(
        self, endpoint: str, version_id: int, role: Role, weight: float, actor: str, reason: str
    ) -> None:
        """Route a version on an endpoint. Promoting to production demotes the old champion
        in the same transaction; the partial unique index makes two champions impossible."""
        r = t.routes
        with self.tx() as conn:
            self._lock_endpoint(conn, endpoint)
            row = self._locked_version(conn, version_id)
            from modelyard.core.lifecycle import check_deployable

            check_deployable(row["state"], what=f"{row['model_name']}@{row['version']}")
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
                        conn,
                        old_id,
                        actor,
                        f"replaced by {row['model_name']}@{row['version']} on {endpoint}",
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
            if row["state"] != State.DEPLOYED.value:
                self._transition(conn, row, State.DEPLOYED, actor, reason)
            self.audit(
                conn,
                actor,
                "endpoint.route",
                f"endpoint:{endpoint}",
                reason,
                {
                    "version": f"{row['model_name']}@{row['version']}",
                    "role": role.value,
                    "weight": weight,
                },
            )
            self._bump(conn, endpoint)

    def remove_route(self, endpoint: str, version_id: int, actor: str, reason: str) -> None:
        r = t.routes
        with self.tx() as conn:
            self._lock_endpoint(conn, endpoint)
            conn.execute(
                r.delete().where(and_(r.c.endpoint == endpoint, r.c.model_version_id == version_id))
            )
            self._undeploy_if_unrouted(conn, version_id, actor, reason)
            row = self._locked_version(conn, version_id)
            self.audit(
                conn,
                actor,
                "endpoint.unroute",
                f"endpoint:{endpoint}",
                reason,
                {"version": f"{row['model_name']}@{row['version']}"},
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
            row = self._locked_version(conn, version_id)
            if row["state"] == State.DEPLOYED.value:
                self._transition(conn, row, State.APPROVED, actor, reason)

    def routes(self, endpoint: str | None = None) -> list[Row]:
        mv = t.model_versions
        q = (
            select(t.routes, mv.c.model_name, mv.c.version, mv.c.state)
            .join(mv, mv.c.id == t.routes.c.model_version_id)
            .order_by(t.routes.c.endpoint, t.routes.c.id)
        )
        if endpoint:
            q = q.where(t.routes.c.endpoint == endpoint)
        with self.tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def endpoint_generation(self, endpoint: str) -> int:
        with self.tx() as conn:
            gen = conn.execute(
                select(t.endpoints.c.generation).where(t.endpoints.c.name == endpoint)
            ).scalar()
        return int(gen or 0)

    def set_endpoint_overrides(
        self, endpoint: str, overrides: dict[str, Any] | None, actor: str, reason: str
    ) -> int:
        """Set (or clear, with None) an endpoint's run-time overrides of its project-file
        settings; audited as ``endpoint.overrides`` and the generation bumped in the same
        transaction, so running servers apply them at their next refresh. Returns the new
        generation. Shape: ``{"throttle": {...ThrottleConfig fields...}}``."""
        clean = validate_overrides(overrides)
        with self.tx() as conn:
            self._lock_endpoint(conn, endpoint)
            conn.execute(
                update(t.endpoints).where(t.endpoints.c.name == endpoint).values(overrides=clean)
            )
            self.audit(
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

    def endpoint_overrides(self, endpoint: str) -> dict[str, Any] | None:
        """The endpoint's run-time overrides (None when there are none)."""
        with self.tx() as conn:
            found = conn.execute(
                select(t.endpoints.c.overrides).where(t.endpoints.c.name == endpoint)
            ).scalar()
        return dict(found) if found else None

    # ---- reports -------------------------------------------------------------------------
    def add_report(self, values: Mapping[str, Any]) -> int:
        with self.tx() as conn:
            for key in ("artifact_digest", "html_digest"):
                if values.get(key):
                    self.record_artifact(conn, values[key], values.get(f"{key}_size", 0), "report")
            clean = {k: v for k, v in values.items() if not k.endswith("_size")}
            mv = conn.execute(
                select(t.model_versions.c.model_name, t.model_versions.c.version).where(
                    t.model_versions.c.id == values["model_version_id"]
                )
            ).one()
            self.audit(
                conn,
                values["created_by"],
                f"report.{values['kind']}",
                f"model:{mv.model_name}@{mv.version}",
                f"{values['kind']} report: {'pass' if values.get('passed') else 'fail'}",
                {"passed": values.get("passed"), "json_digest": values.get("artifact_digest")},
            )
            result = conn.execute(insert(t.reports).values(created_at=now(), **clean))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def reports_of(self, version_id: int) -> list[Row]:
        q = (
            select(t.reports)
            .where(t.reports.c.model_version_id == version_id)
            .order_by(t.reports.c.id)
        )
        with self.tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]


OVERRIDABLE = ("throttle",)


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
