"""Reading, verifying, checkpointing and re-keying the audit chain, and the database grants
that keep the server's role from rewriting it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from modelyard.core.audit import Checkpoint, VerifyResult, verify_chain
from modelyard.core.errors import ConfigError
from modelyard.core.operations_records import AuditEntry
from modelyard.core.settings import Settings
from modelyard.store.audit_anchor import Anchor, AnchorError, open_anchor
from modelyard.store.grants import apply_grants, least_privilege_sql
from modelyard.store.metadata import MetadataStore


def verify(
    store: MetadataStore, public_key: Any = None, anchors: Sequence[Anchor] = ()
) -> VerifyResult:
    """The chain checked against itself, the configured key and the newest checkpoint of each
    anchor: a chain shorter than a checkpoint, or diverging from it, fails naming the entry."""
    newest: list[Checkpoint] = []
    try:
        for anchor in anchors:
            newest += anchor.newest()
    except AnchorError as exc:
        return VerifyResult(False, 0, None, f"cannot check against the anchor: {exc.message}")
    rows, head = store.chain.read()
    return verify_chain(rows, head, public_key, newest)


def verify_configured(store: MetadataStore) -> VerifyResult:
    """What ``modelyard audit verify`` checks: the store's key and all of its anchors."""
    key = store.chain.signer.public_key() if store.chain.signer is not None else None
    return verify(store, key, store.chain.anchors)


def signed(store: MetadataStore) -> bool:
    """Whether new entries are signed (a signing key is configured)."""
    return store.chain.signer is not None


def anchor_urls(store: MetadataStore) -> list[str]:
    """Where checkpoints of the chain's head are written (empty: no anchors configured)."""
    return [a.url for a in store.chain.anchors]


def checkpoint(store: MetadataStore) -> Checkpoint:
    """Write a checkpoint of the chain's head to every configured anchor now."""
    if not store.chain.anchors:
        raise ConfigError(
            "no audit anchors are configured",
            hint="set audit.anchors in modelyard.yaml (a file path or s3://bucket/prefix)",
        )
    return store.chain.checkpoint()


def rotate_signing_key(store: MetadataStore, new_key: Any, actor: str, reason: str) -> int:
    """Hand signing over to ``new_key``: an entry signed by the current key records it; the
    entry's sequence number is returned."""
    return store.chain.rotate_signing_key(new_key, actor, reason)


def open_anchors(settings: Settings, urls: Iterable[str]) -> list[Anchor]:
    anchors = []
    for url in urls:
        if url.startswith("s3://"):
            options: dict[str, Any] = {"key": settings.s3_key, "secret": settings.s3_secret}
            if settings.s3_endpoint_url:
                options["client_kwargs"] = {"endpoint_url": settings.s3_endpoint_url}
            anchors.append(open_anchor(url, options))
        else:
            path = Path(url.removeprefix("file://"))
            anchors.append(
                open_anchor(str(path if path.is_absolute() else settings.project_dir / path))
            )
    return anchors


def history(store: MetadataStore, model: str | None = None, **filters: Any) -> list[AuditEntry]:
    prefix = None
    if model:
        prefix = f"model:{model}" if "@" in model else f"model:{model}@"
    return store.chain.entries(prefix, **filters)


def least_privilege(store: MetadataStore, role: str, *, apply: bool = False) -> list[str]:
    """The PostgreSQL statements that let ``role`` use the store but only read and append the
    audit log; with ``apply`` they are run too (connected as the store's owner)."""
    statements = least_privilege_sql(store.engine, role)
    if apply:
        apply_grants(store.engine, statements)
    return statements


def load_signing_key(path: Path) -> Any:
    """An Ed25519 private key (PEM) that signs every audit entry."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the audit signing key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 private key")
    return key


def generate_signing_key(path: Path) -> None:
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
