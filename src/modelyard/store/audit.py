"""The audit chain as a repository: appending audited entries, the signing key declared in the
chain, and checkpoints of its head written to anchors outside the database.

``append`` runs inside the caller's transaction, so a change and its record commit together;
a checkpoint falls due every ``checkpoint_every`` entries and is written after that commit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from modelyard.core import audit as chain_rules
from modelyard.core.errors import ConfigError, InvalidInput, ModelyardError
from modelyard.core.identity import OVERRIDE, acting_principal
from modelyard.core.operations_records import AuditEntry
from modelyard.store import audit_log
from modelyard.store.audit_anchor import Anchor
from modelyard.store.database import Database, Row, now

log = logging.getLogger("modelyard.audit")
KEY_TARGET = "audit:signing-key"


class AuditChainBroken(ModelyardError):
    """The chain does not verify, so it is not checkpointed."""


def with_principal(data: Mapping[str, Any] | None, principal: str | None) -> dict[str, Any]:
    out = dict(data or {})
    if principal and "principal" not in out:
        out["principal"] = principal
    if OVERRIDE in str(out.get("principal", "")):
        out["identity"] = "override"  # MODELYARD_USER under `identity: os`
    return out


class AuditChain:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.signer: Any = None  # an Ed25519 private key signs audit entries when set
        self.declared_key: str | None = None  # the chain's signing key (declare_signing_key)
        # Checkpoints of the chain go to these anchors every ``checkpoint_every`` entries.
        self.anchors: list[Anchor] = []
        self.checkpoint_every = 0
        # the principal recorded with entries written outside a request (the registry sets
        # its local actor's); a request's principal (core.identity.acting) takes precedence
        self.principal: str | None = None
        self._verified: chain_rules.ChainState | None = None  # verified up to here
        self._checkpoint_lock = threading.Lock()

    def append(
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
            self.db.after_commit(self._checkpoint_quietly)
        return seq

    def entries(
        self,
        target_prefix: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        with self.db.tx() as conn:
            rows = audit_log.entries(conn, target_prefix, actor, action, limit)
            return [AuditEntry.from_row(r) for r in rows]

    def read(self, after: int = 0) -> tuple[list[Row], Row | None]:
        """Entries after ``after`` and the head, read in one snapshot (REPEATABLE READ on
        PostgreSQL; SQLite transactions here are serialised already)."""
        if self.db.dialect == "postgresql":
            with (
                self.db.engine.connect().execution_options(
                    isolation_level="REPEATABLE READ"
                ) as conn,
                conn.begin(),
            ):
                return audit_log.chain(conn, after)
        with self.db.tx() as conn:
            return audit_log.chain(conn, after)

    # ---- the signing key, declared in the chain -------------------------------------------
    def _chain_key(self) -> str | None:
        keys = self.entries(target_prefix=KEY_TARGET, action=chain_rules.KEY_ACTION)
        return keys[-1].data.get("public_key") if keys else None

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
        with self.db.tx() as conn:
            self.append(
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
        with self.db.tx() as conn:
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
                rows, head = self.read(after=state.seq)
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
        with self.db.tx() as conn:
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
