"""principals: who authored, approved and holds a token, by principal id

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 01:45:00

Existing rows get a principal: a token belongs to the principal ``user:<token name>`` (what
`modelyard token create` gives a token without ``--principal``); runs, model versions and
approvals recorded before principals existed get ``legacy:<name>``, which four-eyes compares
by name with both names of the approver (core/identity.py, ``same_principal``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_NAMED = (("runs", "created_by"), ("model_versions", "created_by"), ("approvals", "actor"))


def upgrade() -> None:
    for table in ("runs", "model_versions", "approvals", "tokens"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("principal", sa.String(length=256), nullable=True))
    for table, column in _NAMED:
        op.execute(f"UPDATE {table} SET principal = 'legacy:' || {column}")
    op.execute("UPDATE tokens SET principal = 'user:' || name")


def downgrade() -> None:
    for table in ("tokens", "approvals", "model_versions", "runs"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("principal")
