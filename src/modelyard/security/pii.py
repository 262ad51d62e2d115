"""What is kept of a personal input field where inputs are written down (the prediction log,
the review queue): a keyed digest that still matches equal values, or nothing."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any


def private_record(
    record: dict[str, Any], pii: frozenset[str], mode: str, key: bytes
) -> dict[str, Any]:
    """``record`` with its ``pii`` fields hashed (``mode == "hash"``: HMAC-SHA256 with ``key``,
    ``sha256:`` and 32 hex digits) or dropped (any other mode); the record itself if none."""
    if not pii:
        return record
    out: dict[str, Any] = {}
    for k, v in record.items():
        if k not in pii:
            out[k] = v
        elif mode == "hash":
            digest = hmac.new(key, str(v).encode(), hashlib.sha256).hexdigest()
            out[k] = f"sha256:{digest[:32]}"
    return out
