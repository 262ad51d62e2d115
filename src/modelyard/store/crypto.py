"""Encryption at rest: AES-256-GCM envelopes around artifact bytes.

Layout: ``MYENC1`` | key id (8 bytes, from SHA-256 of the key) | nonce (12) | ciphertext+tag.
The key id lets a keyring hold old keys so rotation keeps old objects readable.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from modelyard.core.errors import EncryptionError

MAGIC = b"MYENC1"
_HEADER = len(MAGIC) + 8 + 12


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"modelyard-key-id" + key).digest()[:8]


def is_encrypted(blob: bytes) -> bool:
    return blob[: len(MAGIC)] == MAGIC


class Keyring:
    """The current key (used for new writes) and older keys (still readable)."""

    def __init__(self, current: bytes, older: Sequence[bytes] = ()) -> None:
        for k in (current, *older):
            if len(k) != 32:
                raise EncryptionError(f"encryption keys must be 32 bytes, got {len(k)}")
        self.current = current
        self._by_id = {key_id(k): k for k in (current, *older)}

    def encrypt(self, plaintext: bytes, associated: bytes = b"") -> bytes:
        nonce = os.urandom(12)
        sealed = AESGCM(self.current).encrypt(nonce, plaintext, associated or None)
        return MAGIC + key_id(self.current) + nonce + sealed

    def decrypt(self, blob: bytes, associated: bytes = b"", *, name: str = "object") -> bytes:
        if not is_encrypted(blob) or len(blob) < _HEADER + 16:
            raise EncryptionError(f"{name} is not an encrypted modelyard object")
        kid = blob[len(MAGIC) : len(MAGIC) + 8]
        key = self._by_id.get(kid)
        if key is None:
            raise EncryptionError(
                f"{name} was encrypted with a key this process does not have (key id {kid.hex()})",
                hint="set MODELYARD_ENCRYPTION_KEY (or _KEY_FILE) to the key it was written with",
            )
        nonce = blob[len(MAGIC) + 8 : _HEADER]
        try:
            return AESGCM(key).decrypt(nonce, blob[_HEADER:], associated or None)
        except InvalidTag:
            raise EncryptionError(
                f"{name} failed authentication: it was modified or the key is wrong"
            ) from None


def generate_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)
