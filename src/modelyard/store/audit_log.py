"""Appending to and reading the audit chain, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection

from modelyard.core.audit import GENESIS, entry_hash, head_message, sign, sign_bytes
from modelyard.store import schema as t

# Statements built once: constructing SQLAlchemy statements per call cost more than running them.
_LOCK = text("SELECT pg_advisory_xact_lock(7277002)")
_HEAD = select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1)
_INSERT = insert(t.audit_log)
_SET_HEAD = update(t.audit_head).where(t.audit_head.c.id == 1)
_NEW_HEAD = insert(t.audit_head).values(id=1)


def append(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    reason: str,
    data: Mapping[str, Any] | None = None,
    at: Any,
    signer: Any = None,
    head_signer: Any = None,
) -> tuple[int, str]:
    """Append one entry in the caller's transaction (so the change and its record commit
    together). Appends are serialised: a PostgreSQL transaction-level advisory lock, and on
    SQLite the BEGIN IMMEDIATE write lock every transaction already holds.

    ``signer`` signs the entry, ``head_signer`` (default: the same key) the head; they differ
    only for a key rotation, which the outgoing key signs. Returns (seq, hash)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK)
    head = conn.execute(_HEAD).first()
    seq = int(head.seq) + 1 if head else 1
    prev = head.hash if head else GENESIS
    payload = dict(data or {})
    h = entry_hash(seq, at, actor, action, target, reason, payload, prev)
    sig = sign(signer, h) if signer is not None else None
    head_signer = head_signer if head_signer is not None else signer
    head_sig = sign_bytes(head_signer, head_message(seq, h)) if head_signer is not None else None
    conn.execute(
        _INSERT,
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "target": target,
            "reason": reason,
            "data": payload,
            "prev_hash": prev,
            "hash": h,
            "signature": sig,
        },
    )
    conn.execute(_SET_HEAD if head else _NEW_HEAD, {"seq": seq, "hash": h, "signature": head_sig})
    return seq, h


def entries(
    conn: Connection,
    target_prefix: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    q = select(t.audit_log).order_by(t.audit_log.c.seq)
    if target_prefix:
        q = q.where(t.audit_log.c.target.startswith(target_prefix))
    if actor:
        q = q.where(t.audit_log.c.actor == actor)
    if action:
        q = q.where(t.audit_log.c.action == action)
    if limit:
        q = q.limit(limit)
    for row in conn.execute(q).mappings():
        yield dict(row)


def chain(conn: Connection, after: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The entries after ``after`` by sequence number, and the head. Reordering shows as
    broken links, because each hash covers its own sequence number and its predecessor's hash.
    Read both in one snapshot (see ``AuditChain.read``): under READ COMMITTED an append
    committed between the two reads would look like a truncated log."""
    q = select(t.audit_log).where(t.audit_log.c.seq > after).order_by(t.audit_log.c.seq)
    rows = [dict(r) for r in conn.execute(q).mappings()]
    head = conn.execute(select(t.audit_head).where(t.audit_head.c.id == 1)).mappings().first()
    return rows, dict(head) if head else None


def hash_at(conn: Connection, seq: int) -> str | None:
    found = conn.execute(select(t.audit_log.c.hash).where(t.audit_log.c.seq == seq)).first()
    return str(found.hash) if found else None
