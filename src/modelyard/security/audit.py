"""Reading and verifying the audit chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.core.audit import VerifyResult, verify_chain
from modelyard.core.errors import ConfigError
from modelyard.store.metadata import MetadataStore, Row


def verify(store: MetadataStore, public_key: Any = None) -> VerifyResult:
    rows, head = store.audit_chain()
    return verify_chain(rows, head, public_key)


def history(store: MetadataStore, model: str | None = None, **filters: Any) -> list[Row]:
    prefix = None
    if model:
        prefix = f"model:{model}" if "@" in model else f"model:{model}@"
    return store.audit_entries(prefix, **filters)


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
