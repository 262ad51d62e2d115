"""audit: an INSERT must be the next entry; the head only moves forward

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 01:50:00

Before this, the triggers of 0002 refused UPDATE and DELETE of audit rows, but an INSERT could
carry any sequence number, and on SQLite ``INSERT OR REPLACE`` rewrote a row (REPLACE deletes
the old row without firing DELETE triggers unless ``recursive_triggers`` is on). Now:

* ``audit_log``: an INSERT is refused unless its ``seq`` is the head's + 1 and its ``prev_hash``
  the head's hash. A BEFORE INSERT trigger runs before the conflict check, so REPLACE (SQLite)
  and ``ON CONFLICT DO UPDATE`` (PostgreSQL) of an existing entry are refused too.
* ``audit_head``: UPDATE only moves it forward by one, to the entry just appended; DELETE is
  refused; INSERT only creates the first head (entry 1) when there is none.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_GENESIS = "0" * 64
_NEXT_ONLY = (
    "audit_log is append-only: an INSERT must be the next entry "
    "(seq = the head seq + 1, prev_hash = the head hash)"
)
_HEAD_FORWARD = "audit_head moves forward only, to the entry just appended"
_HEAD_FIRST = "audit_head exists already: it is moved by appending, never replaced"

_PG_FUNCTIONS = [
    f"""
CREATE OR REPLACE FUNCTION modelyard_audit_next_only() RETURNS trigger AS $$
DECLARE h_seq integer; h_hash text;
BEGIN
  SELECT seq, hash INTO h_seq, h_hash FROM audit_head WHERE id = 1;
  IF NEW.seq IS DISTINCT FROM COALESCE(h_seq, 0) + 1
     OR NEW.prev_hash IS DISTINCT FROM COALESCE(h_hash, '{_GENESIS}') THEN
    RAISE EXCEPTION USING MESSAGE = '{_NEXT_ONLY}: entry ' || NEW.seq
      || ' refused, the next is ' || (COALESCE(h_seq, 0) + 1);
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql
""",
    f"""
CREATE OR REPLACE FUNCTION modelyard_audit_head_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.seq IS DISTINCT FROM OLD.seq + 1
       OR NEW.hash IS DISTINCT FROM (SELECT hash FROM audit_log WHERE seq = NEW.seq) THEN
      RAISE EXCEPTION '{_HEAD_FORWARD}';
    END IF;
    RETURN NEW;
  ELSIF TG_OP = 'INSERT' THEN
    IF EXISTS (SELECT 1 FROM audit_head) OR NEW.id IS DISTINCT FROM 1 OR NEW.seq IS DISTINCT FROM 1
       OR NEW.hash IS DISTINCT FROM (SELECT hash FROM audit_log WHERE seq = 1) THEN
      RAISE EXCEPTION '{_HEAD_FIRST}';
    END IF;
    RETURN NEW;
  END IF;
  RAISE EXCEPTION USING MESSAGE = 'audit_head: ' || TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql
""",
]

_PG_TRIGGERS = [
    "CREATE TRIGGER audit_log_next_only BEFORE INSERT ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION modelyard_audit_next_only()",
    "CREATE TRIGGER audit_head_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION modelyard_audit_head_guard()",
    "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION modelyard_audit_append_only()",
]

_HEAD_SEQ = "(SELECT seq FROM audit_head WHERE id = 1)"
_HEAD_HASH = "(SELECT hash FROM audit_head WHERE id = 1)"
_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER audit_log_next_only BEFORE INSERT ON audit_log
WHEN NEW.seq IS NOT COALESCE({_HEAD_SEQ}, 0) + 1
  OR NEW.prev_hash IS NOT COALESCE({_HEAD_HASH}, '{_GENESIS}')
BEGIN SELECT RAISE(ABORT, '{_NEXT_ONLY}'); END""",
    f"""CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head
WHEN NEW.id IS NOT OLD.id OR NEW.seq IS NOT OLD.seq + 1
  OR NEW.hash IS NOT (SELECT hash FROM audit_log WHERE seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, '{_HEAD_FORWARD}'); END""",
    f"""CREATE TRIGGER audit_head_first_only BEFORE INSERT ON audit_head
WHEN EXISTS (SELECT 1 FROM audit_head) OR NEW.id IS NOT 1 OR NEW.seq IS NOT 1
  OR NEW.hash IS NOT (SELECT hash FROM audit_log WHERE seq = 1)
BEGIN SELECT RAISE(ABORT, '{_HEAD_FIRST}'); END""",
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'audit_head: DELETE refused'); END""",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_FUNCTIONS + _PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_next_only ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_head_guard ON audit_head")
        op.execute("DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head")
        op.execute("DROP FUNCTION IF EXISTS modelyard_audit_next_only()")
        op.execute("DROP FUNCTION IF EXISTS modelyard_audit_head_guard()")
    else:
        for name in (
            "audit_log_next_only",
            "audit_head_forward_only",
            "audit_head_first_only",
            "audit_head_no_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
