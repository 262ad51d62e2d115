"""Least privilege on PostgreSQL: the role the server connects as may read and write the
store's tables but only read and append the audit log. The tables stay owned by the role that
ran the migrations, so the application role cannot drop or disable the audit triggers either."""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

from modelyard.core.errors import ConfigError, InvalidInput

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def least_privilege_sql(engine: Engine, role: str) -> list[str]:
    if engine.dialect.name != "postgresql":
        raise ConfigError(
            "database grants apply to PostgreSQL only",
            hint="on SQLite the audit triggers and the file's permissions are what protects it",
        )
    if not _ROLE.match(role):
        raise InvalidInput(
            f"invalid role name {role!r}: expected lowercase letters, digits and '_' "
            "(at most 63), starting with a letter or '_'"
        )
    with engine.connect() as conn:
        schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
    s, r = _q(schema), _q(role)
    return [
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        # the audit log: read and append only; its head: moved forward by appends only
        f"REVOKE ALL ON {s}.audit_log FROM {r}",
        f"GRANT SELECT, INSERT ON {s}.audit_log TO {r}",
        f"REVOKE ALL ON {s}.audit_head FROM {r}",
        f"GRANT SELECT, INSERT, UPDATE ON {s}.audit_head TO {r}",
        # migrations are the owner's job
        f"REVOKE ALL ON {s}.alembic_version FROM {r}",
        f"GRANT SELECT ON {s}.alembic_version TO {r}",
    ]


def apply_grants(engine: Engine, statements: list[str]) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
