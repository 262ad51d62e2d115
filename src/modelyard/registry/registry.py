"""The registry service: datasets, runs, model versions and their lifecycle over one store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidInput
from modelyard.core.identity import Actor, local_actor
from modelyard.core.lifecycle import Role, State
from modelyard.core.project import (
    DEFAULT_PROJECT,
    IDENTITY_LINE,
    PROJECT_FILE,
    ProjectConfig,
    load_project,
    validate_name,
)
from modelyard.core.records import DatasetVersion, ModelVersion
from modelyard.core.refs import parse_ref
from modelyard.core.settings import Settings, os_account
from modelyard.store.artifacts import ArtifactStore, PutResult, open_backend
from modelyard.store.crypto import Keyring
from modelyard.store.metadata import MetadataStore

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.registry.runs import Run

__all__ = ["DatasetVersion", "ModelVersion", "Registry"]  # the value types live in core.records


class Registry:
    """Everything recorded about data, runs and model versions of one project."""

    artifacts: ArtifactStore  # set by connect()
    actor: Actor  # who acts; set by connect()

    def __init__(self, settings: Settings, config: ProjectConfig) -> None:
        self.settings = settings
        self.config = config
        self.store = MetadataStore(settings.store_url)
        self._packages: PutResult | None = None

    def connect(self) -> Registry:
        """Make the registry ready: who acts, the store migrated, the audit keys and anchors,
        the artifact backend, and the project file's policy audited when it changed."""
        settings, config = self.settings, self.config
        # who acts: refused before anything is opened if MODELYARD_USER claims another name
        # in a project that does not declare `identity: os`
        self.actor = local_actor(
            settings.os_account, settings.os_name, settings.user_override, config.identity
        )
        self.store.open()
        chain = self.store.chain
        chain.principal = self.actor.principal
        storage: dict[str, Any] = {}
        if settings.artifact_url.startswith("s3://"):
            storage = {"key": settings.s3_key, "secret": settings.s3_secret}
            if settings.s3_endpoint_url:
                storage["client_kwargs"] = {"endpoint_url": settings.s3_endpoint_url}
        from modelyard.security.audit import load_signing_key, open_anchors

        chain.anchors = open_anchors(settings, config.audit.anchors)
        chain.checkpoint_every = config.audit.checkpoint_every
        if settings.audit_key_file:
            chain.signer = load_signing_key(settings.audit_key_file)
        chain.declare_signing_key(settings.user)
        keyring = (
            Keyring(settings.encryption_key, settings.old_encryption_keys)
            if settings.encryption_key
            else None
        )
        self.artifacts = ArtifactStore(open_backend(settings.artifact_url, storage), keyring)
        self._record_policy()
        return self

    def _record_policy(self) -> None:
        """Policy changes are audited: when the project file differs from the version last
        seen by the store, an entry records who opened it with the new content (by hash)."""
        import hashlib

        from modelyard.core.project import PROJECT_FILE

        file = self.settings.project_dir / PROJECT_FILE
        if not file.is_file():
            return
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        target = f"project:{self.config.name}"
        seen = self.store.chain.entries(target_prefix=target, action="project.policy")
        if seen and seen[-1].data.get("sha256") == digest:
            return
        with self.store.tx() as conn:
            self.store.audit(
                conn,
                self.settings.user,
                "project.policy",
                target,
                "project file first seen" if not seen else "project file changed",
                {"sha256": digest, "previous": seen[-1].data.get("sha256") if seen else None},
            )

    # ---- opening ---------------------------------------------------------------------
    @classmethod
    def open(
        cls, path: str | os.PathLike[str] = ".", env: dict[str, str] | None = None
    ) -> Registry:
        root = Path(path)
        config = load_project(root)
        settings = Settings.resolve(root if root.is_dir() else root.parent, config, env)
        return cls(settings, config).connect()

    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str] = ".",
        name: str | None = None,
        env: dict[str, str] | None = None,
        template: str = DEFAULT_PROJECT,
        identity: str | None = None,
    ) -> Registry:
        """Create the project (unless its file exists) and open it. ``identity="os"`` writes
        ``identity: os``: a one-person project where MODELYARD_USER may name the actor."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        file = root / PROJECT_FILE
        if not file.exists():
            # refuse an override before anything is written, so a corrected retry can add it
            uid, os_name = os_account()
            override = (os.environ if env is None else env).get("MODELYARD_USER")
            local_actor(f"os:{uid}:{os_name}", os_name, override, identity or "account")
            project_name = name or root.resolve().name or "project"
            text = template.format(name=project_name)
            if identity is not None:
                text += IDENTITY_LINE.format(identity=identity)
            file.write_text(text, encoding="utf-8")
        gitignore = root / ".modelyard" / ".gitignore"
        gitignore.parent.mkdir(parents=True, exist_ok=True)
        if not gitignore.exists():
            gitignore.write_text("*\n")
        reg = cls.open(root, env)
        if reg.settings.pii_secret is None:
            from modelyard.security.pii import ensure_project_secret

            ensure_project_secret(reg.settings.state_dir)
        return reg

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- datasets --------------------------------------------------------------------
    def add_dataset(
        self, data: pd.DataFrame | str | os.PathLike[str], name: str, source: str | None = None
    ) -> DatasetVersion:
        import pandas as pd

        from modelyard.registry import profile as prof
        from modelyard.registry import tabular

        validate_name(name, "dataset name")
        if isinstance(data, pd.DataFrame):
            df, source = data, source or "dataframe"
        else:
            path = Path(data)
            df, source = tabular.read_table(path), source or str(path.resolve())
        if df.shape[1] == 0:
            raise InvalidInput(f"dataset {name!r} has no columns")
        canon = tabular.canonicalise(df)
        digest = tabular.content_hash(canon)
        schema = prof.infer_schema(canon, self.config.dataset(name))
        blob = tabular.to_parquet_bytes(canon)
        put = self.artifacts.put(blob)
        return self.store.datasets.add(
            {
                "name": name,
                "digest": digest,
                "n_rows": len(canon),
                "n_cols": int(canon.shape[1]),
                "schema": schema,
                "profile": prof.profile(canon, schema),
                "artifact_digest": put.digest,
                "source": source,
                "created_by": self.settings.user,
            },
            artifact_size=put.size,
        )

    def tag_dataset(
        self,
        ref: str,
        *,
        target: str | None = None,
        pii: list[str] | None = None,
        protected: list[str] | None = None,
        categorical: list[str] | None = None,
        from_project: bool = False,
    ) -> DatasetVersion:
        """Set a registered version's tags (target, PII, protected, categorical): from the
        project file (``from_project``) and/or the arguments, which replace that tag's columns.
        The content and its digest never change; the change is audited."""
        from modelyard.core.project import DatasetConfig
        from modelyard.registry import profile as prof

        ds = self.dataset(ref)
        current = prof.tags_of(ds.schema)
        base = self.config.dataset(ds.name) if from_project else current
        values = base.model_dump()
        for key, given in (
            ("target", target),
            ("pii", pii),
            ("protected", protected),
            ("categorical", categorical),
        ):
            if given is not None:
                values[key] = given if key == "target" else tuple(given)
        wanted = DatasetConfig.model_validate(values)
        changes = {
            key: f"{getattr(current, key)!r} -> {getattr(wanted, key)!r}"
            for key in ("target", "pii", "protected", "categorical")
            if getattr(current, key) != getattr(wanted, key)
        }
        if not changes:
            return ds
        frame = self.load_dataset(ds)
        schema = prof.infer_schema(frame, wanted)
        self.store.datasets.retag(
            ds.id, schema, prof.profile(frame, schema), self.settings.user, changes
        )
        return self.dataset(ds.ref)

    def dataset(self, ref: str) -> DatasetVersion:
        r = parse_ref(ref, "dataset")
        return self.store.datasets.get(r.name, r.version)

    def load_dataset(self, ref: str | DatasetVersion) -> pd.DataFrame:
        from modelyard.registry.tabular import from_parquet_bytes

        ds = self.dataset(ref) if isinstance(ref, str) else ref
        return from_parquet_bytes(self.artifacts.get(ds.artifact_digest))

    def datasets(self, name: str | None = None) -> list[DatasetVersion]:
        return self.store.datasets.all(name)

    # ---- runs ------------------------------------------------------------------------
    def packages_artifact(self) -> PutResult:
        """The installed-package list as an artifact, stored once per process."""
        from modelyard.registry import environment

        if self._packages is None:
            self._packages = self.artifacts.put(environment.packages_blob())
        return self._packages

    def start_run(
        self, model: str, params: dict[str, Any] | None = None, seed: int | None = None
    ) -> Run:
        from modelyard.registry.runs import Run

        validate_name(model, "model name")
        return Run(self, model, params=params, seed=seed)

    # ---- models ----------------------------------------------------------------------
    def register_model(
        self,
        model: Any,
        name: str,
        sample_input: Any = None,
        trust: bool = False,
        run_id: str | None = None,
        parent: ModelVersion | None = None,
        reason: str = "logged by training run",
    ) -> ModelVersion:
        from modelyard.registry import flavors
        from modelyard.registry.signature import infer_signature

        validate_name(name, "model name")
        fl = flavors.detect(model, trust)
        data, info = fl.dump(model)
        # The same audit every load runs: refused here unless trusted, and what needed the
        # trust is kept with the version (the card, the audit log, the catalog show it).
        needs_trust = fl.check(data, trust)
        if trust:
            info["trusted_types"] = needs_trust
        schema = None
        if run_id:
            inputs = [i for i in self.store.runs.inputs(run_id) if i.role == "train"]
            schema = inputs[0].dataset.schema if inputs else None
        signature = infer_signature(model, sample_input, schema) if sample_input is not None else {}
        put = self.artifacts.put(data)
        mc = self.config.model(name)
        card = {
            "owner": mc.owner,
            "objective": mc.objective,
            "kpi": mc.kpi,
            "sla": mc.sla.model_dump(),
            "flavor_info": info,
        }
        return self.store.versions.add(
            {
                "model_name": name,
                "run_id": run_id,
                "artifact_digest": put.digest,
                "flavor": fl.name,
                "trusted": bool(trust) or fl.name == "pickle",
                "signature": signature,
                "size_bytes": put.size,
                "card": card,
                "parent_id": parent.id if parent else None,
                "created_by": self.settings.user,
                "principal": self.actor.principal,
            },
            actor=self.settings.user,
            reason=reason + (" (trusted: pickle format)" if fl.name == "pickle" else ""),
        )

    def model_version(self, ref: str) -> ModelVersion:
        r = parse_ref(ref, "model")
        return self.store.versions.get(r.name, r.version)

    def model_versions(self, name: str | None = None) -> list[ModelVersion]:
        return self.store.versions.all(name)

    def load_model(self, ref: str | ModelVersion) -> Any:
        """Fetch the artifact (digest verified before deserialising) and load it."""
        from modelyard.registry import flavors

        mv = self.model_version(ref) if isinstance(ref, str) else ref
        if mv.trusted:
            self._check_trust_on_record(mv)
        data = self.artifacts.get(mv.artifact_digest)
        return flavors.flavor(mv.flavor).load(data, mv.card.get("flavor_info", {}), mv.trusted)

    def _check_trust_on_record(self, mv: ModelVersion) -> None:
        """A ``trusted`` flag counts only with the audit entry its registration wrote for this
        very artifact: a flag flipped in the database alone does not make code run."""
        from modelyard.core.errors import UnsafeArtifact

        target = f"model:{mv.ref}"
        for e in self.store.chain.entries(target_prefix=target):
            data = e.data or {}
            vouched = e.action == "model.trust" or (
                e.action == "model.register" and data.get("trusted") is True
            )
            if e.target == target and vouched and data.get("digest") == mv.artifact_digest:
                return
        raise UnsafeArtifact(
            f"refusing to load {mv.ref}: it is marked trusted but no audit entry records it "
            "being registered with trust=True for this artifact",
            hint="register the model again with trust=True (recorded in the audit log)",
        )

    # ---- lifecycle -------------------------------------------------------------------
    def transition(
        self, ref: str | ModelVersion, target: State | str, reason: str, actor: str | None = None
    ) -> ModelVersion:
        mv = self.model_version(ref) if isinstance(ref, str) else ref
        if not reason or not reason.strip():
            raise InvalidInput("a lifecycle transition needs a reason")
        if State(target) is State.APPROVED:
            self._check_approvals(mv)
        return self.store.versions.transition(
            mv.id, State(target), actor or self.settings.user, reason
        )

    def _check_approvals(self, mv: ModelVersion) -> None:
        """Approval is governed: the policy's count of approvers must be on record."""
        from modelyard.core.errors import PermissionDenied
        from modelyard.store.governance import GovernanceStore

        required = self.config.governance.approvals.required
        if required == 0:
            return
        approvers = GovernanceStore(self.store).current_approvers(mv.id)
        if len(approvers) < required:
            raise PermissionDenied(
                f"{mv.ref} has {len(approvers)} of {required} required approval(s)",
                hint=f"a reviewer runs `modelyard approve {mv.ref} --comment ...`",
            )

    def deploy(
        self,
        ref: str | ModelVersion,
        endpoint: str,
        role: Role | str = Role.PRODUCTION,
        weight: float = 1.0,
        reason: str = "deployed",
        actor: str | None = None,
    ) -> ModelVersion:
        validate_name(endpoint, "endpoint name")
        if not 0.0 <= weight <= 1.0:
            raise InvalidInput(f"weight must be between 0 and 1, got {weight}")
        mv = self.model_version(ref) if isinstance(ref, str) else ref
        self.store.routes.set(
            endpoint, mv.id, Role(role), weight, actor or self.settings.user, reason
        )
        return self.store.versions.by_id(mv.id)

    def undeploy(
        self, ref: str | ModelVersion, endpoint: str, reason: str, actor: str | None = None
    ) -> None:
        mv = self.model_version(ref) if isinstance(ref, str) else ref
        self.store.routes.remove(endpoint, mv.id, actor or self.settings.user, reason)
