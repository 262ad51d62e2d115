"""What is kept of a personal input field where inputs are written down (the prediction log,
the review queue): a keyed digest that still matches equal values, or nothing.

The digest is HMAC-SHA256 under a key derived (HKDF-SHA256, its own ``info`` label) from the
project's PII secret, which lives outside the store and outside the repository:

- ``MODELYARD_PII_SECRET`` (base64, at least 32 bytes) or ``MODELYARD_PII_SECRET_FILE`` (a file
  holding it) when set — team mode, so that every replica hashes equal values equally;
- otherwise ``.modelyard/pii.key`` (mode 0600; ``.modelyard/`` is git-ignored), created by
  ``modelyard init`` or on first use.

The encryption key is never used for hashing, and there is no built-in key: without the
secret nobody (not even someone holding the store, the logs and the encryption key) can test a
guessed value against a logged digest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import ConfigError
from modelyard.core.settings import decode_secret

if TYPE_CHECKING:
    from modelyard.core.settings import Settings

log = logging.getLogger("modelyard.security")

SECRET_FILE = "pii.key"
SECRET_BYTES = 32
HKDF_INFO = b"modelyard/pii-hmac/v1"  # distinct from every other use of the secret


def private_record(
    record: dict[str, Any], pii: frozenset[str], mode: str, key: bytes | None
) -> dict[str, Any]:
    """``record`` with its ``pii`` fields hashed (``mode == "hash"``: HMAC-SHA256 with ``key``,
    ``sha256:`` and 32 hex digits) or dropped (any other mode, or no key); the record itself
    if none."""
    if not pii:
        return record
    if mode == "hash" and key is not None and len(key) < SECRET_BYTES:
        raise ValueError("a PII hashing key has at least 32 bytes (use pii_hash_key)")
    out: dict[str, Any] = {}
    for k, v in record.items():
        if k not in pii:
            out[k] = v
        elif mode == "hash" and key is not None:
            digest = hmac.new(key, str(v).encode(), hashlib.sha256).hexdigest()
            out[k] = f"sha256:{digest[:32]}"
    return out


def derive_hash_key(secret: bytes) -> bytes:
    """The HMAC key for PII digests: HKDF-SHA256 of the project secret, ``info`` =
    :data:`HKDF_INFO` (so it equals no other key derived from, or stored beside, the secret)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if len(secret) < SECRET_BYTES:
        raise ConfigError(f"the PII secret has {len(secret)} bytes; expected at least 32")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(secret)


def pii_hash_key(settings: Settings) -> bytes | None:
    """The key the prediction log and the review queue hash PII with, for this project.

    None — fields tagged ``pii`` are then dropped, never hashed under a weaker key — when no
    secret is configured and none can be created (a read-only project folder, as in the
    generated Kubernetes manifests, without ``MODELYARD_PII_SECRET``); the log says so."""
    if settings.pii_secret is not None:
        return derive_hash_key(settings.pii_secret)
    shared = not settings.store_url.startswith("sqlite")
    try:
        secret = ensure_project_secret(settings.state_dir, warn_shared=shared)
    except OSError as exc:
        log.error(
            "no PII secret: MODELYARD_PII_SECRET is not set and %s cannot be created (%s); "
            "fields tagged pii are dropped from the prediction log and the review queue, not "
            "hashed, until it is",
            settings.state_dir / SECRET_FILE,
            exc.strerror or exc,
        )
        return None
    return derive_hash_key(secret)


def ensure_project_secret(state_dir: Path, *, warn_shared: bool = False) -> bytes:
    """The project's PII secret from ``state_dir/pii.key``, created (0600) when missing.

    Creation is atomic and race-free: the secret is written to a private temporary file and
    linked into place; when another process won the race, its secret is the one read."""
    path = state_dir / SECRET_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        ignore = state_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
        tmp = state_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
                if warn_shared:
                    log.warning(
                        "created a PII secret in %s for a shared store: replicas on other "
                        "machines hash PII differently unless they all get the same secret "
                        "through MODELYARD_PII_SECRET or MODELYARD_PII_SECRET_FILE",
                        path,
                    )
            except FileExistsError:
                pass  # another process created it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s is readable by other users (mode %o); chmod 600 it", path, mode)
    return decode_secret(path.read_text(), f"PII secret file {path}")
