"""What an attacker who owns the database does to the audit chain (tests/security, test_audit)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine


def drop_audit_triggers(engine: Engine) -> None:
    """Drop every trigger guarding ``audit_log`` and ``audit_head`` (needs the owner's rights)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT tgname, relname FROM pg_trigger JOIN pg_class ON pg_class.oid = tgrelid "
                "WHERE NOT tgisinternal AND relname IN ('audit_log', 'audit_head') "
                "AND relnamespace = current_schema()::regnamespace"
            ).all()
            for name, table in rows:
                conn.exec_driver_sql(f'DROP TRIGGER "{name}" ON "{table}"')
        else:
            rows = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name IN ('audit_log', 'audit_head')"
            ).all()
            for (name,) in rows:
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')


def rows_and_head(engine: Engine) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    from modelyard.store import audit_log

    with engine.begin() as conn:
        return audit_log.chain(conn)


def rechain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Renumber from 1 and recompute every hash and link, as someone without the key can: the
    signatures are left as they were (they cannot be remade)."""
    from modelyard.core.audit import GENESIS, entry_hash

    prev, out = GENESIS, []
    for seq, r in enumerate(rows, 1):
        h = entry_hash(
            seq, r["at"], r["actor"], r["action"], r["target"], r["reason"], r["data"], prev
        )
        out.append({**r, "seq": seq, "prev_hash": prev, "hash": h})
        prev = h
    return out


def replace_chain(
    engine: Engine, rows: list[dict[str, Any]], head: dict[str, Any] | None = None
) -> None:
    """Write ``rows`` as the whole log and point the head at the last one (or set ``head``)."""
    from modelyard.store import schema as t

    with engine.begin() as conn:
        conn.execute(sa.delete(t.audit_log))
        conn.execute(sa.delete(t.audit_head))
        if rows:
            conn.execute(sa.insert(t.audit_log), rows)
        if head is None and rows:
            head = {"seq": rows[-1]["seq"], "hash": rows[-1]["hash"], "signature": None}
        if head is not None:
            conn.execute(sa.insert(t.audit_head).values(id=1, **head))
