"""The audit chain's rules, free of I/O: how an entry is hashed, signed and verified.

Each entry's hash covers its sequence number, time, actor, action, target, reason, data and the
previous entry's hash, so editing, deleting or reordering any entry breaks every hash after it.
With a signing key (Ed25519) each hash is also signed, so rewriting the whole chain needs the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def _canonical_time(at: dt.datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    target: str,
    reason: str,
    data: Mapping[str, Any],
    prev_hash: str,
) -> str:
    body = json.dumps(
        [seq, _canonical_time(at), actor, action, target, reason, data, prev_hash],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(
    rows: Iterable[Mapping[str, Any]],
    head: Mapping[str, Any] | None,
    public_key: Any = None,
) -> VerifyResult:
    """Walk entries in storage order; name the first entry that breaks the chain."""
    prev = GENESIS
    expected_seq = 1
    n = 0
    for row in rows:
        n += 1
        seq = int(row["seq"])
        if seq != expected_seq:
            what = "missing (deleted)" if seq > expected_seq else "out of order"
            return VerifyResult(
                False, n, expected_seq, f"entry {expected_seq} is {what}; found {seq} in its place"
            )
        if row["prev_hash"] != prev:
            return VerifyResult(
                False, n, seq, f"entry {seq} does not follow entry {seq - 1} (chain link broken)"
            )
        h = entry_hash(
            seq,
            row["at"],
            row["actor"],
            row["action"],
            row["target"],
            row["reason"],
            row["data"],
            row["prev_hash"],
        )
        if h != row["hash"]:
            return VerifyResult(
                False, n, seq, f"entry {seq} was edited (its hash no longer matches)"
            )
        if public_key is not None and not _signature_ok(public_key, h, row.get("signature")):
            return VerifyResult(False, n, seq, f"entry {seq} has a missing or invalid signature")
        prev = h
        expected_seq += 1
    last_seq = expected_seq - 1
    if head is None:
        if last_seq:
            return VerifyResult(False, n, 1, "the audit head is missing")
        return VerifyResult(True, 0)
    if int(head["seq"]) != last_seq or head["hash"] != prev:
        return VerifyResult(
            False,
            n,
            last_seq + 1,
            f"the log ends at entry {last_seq} but its head records entry {head['seq']} "
            "(entries were truncated or the head was edited)",
        )
    return VerifyResult(True, n)


def sign(private_key: Any, digest: str) -> str:
    return str(private_key.sign(digest.encode()).hex())


def _signature_ok(public_key: Any, digest: str, signature: str | None) -> bool:
    from cryptography.exceptions import InvalidSignature

    if not signature:
        return False
    try:
        public_key.verify(bytes.fromhex(signature), digest.encode())
    except (InvalidSignature, ValueError):
        return False
    return True
