"""Encryption keys as operators handle them: a new random AES-256 key, written as the base64
text that ``MODELYARD_ENCRYPTION_KEY`` (or a line of ``MODELYARD_ENCRYPTION_KEY_FILE``) holds."""

from __future__ import annotations

import base64

from modelyard.store.crypto import generate_key


def new_key_text() -> str:
    """A fresh random key, base64-encoded (settings decode it back to the 32 key bytes)."""
    return base64.b64encode(generate_key()).decode()
