"""Metadata tables. The Alembic migrations in ``migrations/`` create exactly these."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value if dialect.name != "sqlite" or value is None else value.replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


metadata = MetaData()

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("n_rows", BigInteger, nullable=False),
    Column("n_cols", Integer, nullable=False),
    Column("schema", JSON, nullable=False),
    Column("profile", JSON, nullable=False),
    Column("artifact_digest", String(64), nullable=False),
    Column("source", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(128), nullable=False),
    UniqueConstraint("name", "version", name="uq_datasets_name_version"),
    UniqueConstraint("name", "digest", name="uq_datasets_name_digest"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model_name", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("params", JSON, nullable=False),
    Column("seed", BigInteger, nullable=True),
    Column("environment", JSON, nullable=False),
    Column("created_by", String(128), nullable=False),
    # who started it, by principal id (see core/identity.py); display names are not identities
    Column("principal", String(256), nullable=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_runs_model_name", "model_name"),
)

run_metrics = Table(
    "run_metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_run_metrics_run_key", "run_id", "key"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), primary_key=True),
    Column("role", String(32), primary_key=True),
    Index("ix_run_inputs_dataset", "dataset_id"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("artifact_digest", String(64), nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("trusted", Boolean, nullable=False),
    Column("signature", JSON, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("card", JSON, nullable=False),
    Column("parent_id", Integer, ForeignKey("model_versions.id"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("principal", String(256), nullable=True),  # the author, by principal id
    UniqueConstraint("model_name", "version", name="uq_model_versions_name_version"),
    Index("ix_model_versions_run", "run_id"),
)

transitions = Table(
    "transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_transitions_version", "model_version_id"),
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("name", String(128), primary_key=True),
    # bumped on every plan change: servers poll it to refresh their in-memory routing snapshot
    Column("generation", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # run-time overrides of the project file's endpoint settings (e.g. a playbook's throttle):
    # {"throttle": {"rate_per_s": 5, "max_concurrency": 2}}; set with the generation bumped
    Column("overrides", JSON, nullable=True),
)

routes = Table(
    "routes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", String(128), ForeignKey("endpoints.name"), nullable=False),
    Column("model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("weight", Float, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("endpoint", "model_version_id", name="uq_routes_endpoint_version"),
    # The invariant "one version in full production per endpoint" is held by the database
    # itself, so no interleaving of processes can break it.
    Index(
        "uq_routes_one_production",
        "endpoint",
        unique=True,
        sqlite_where=text("role = 'production'"),
        postgresql_where=text("role = 'production'"),
    ),
)

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("passed", Boolean, nullable=True),
    Column("summary", JSON, nullable=False),
    Column("artifact_digest", String(64), nullable=True),
    Column("html_digest", String(64), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(128), nullable=False),
    Index("ix_reports_version", "model_version_id"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("size_bytes", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# ---- governance ------------------------------------------------------------------------------
# Append-only, hash-chained audit log. Database triggers (migration 0002) refuse UPDATE and
# DELETE on it, so the server's own database user cannot rewrite history.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(256), nullable=False),
    Column("reason", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("signature", Text, nullable=True),
    Index("ix_audit_target", "target"),
)

# One row: the newest entry's sequence number and hash, updated in the same transaction as the
# append, so a truncated log no longer matches its head.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("signature", Text, nullable=True),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("principal", String(256), nullable=True),  # four-eyes compares this, not actor
    Column("decision", String(16), nullable=False),
    Column("comment", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_approvals_version", "model_version_id"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(32), nullable=False),
    Column("principal", String(256), nullable=True),  # whose token: one principal, many tokens
    Column("secret_hash", String(64), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    UniqueConstraint("name", name="uq_tokens_name"),
)

# Dashboard sessions: the browser's cookie holds a random session secret; only its SHA-256 is
# stored, so a reader of the database cannot take over a session. ``binding`` ties the session
# to what signed it in: ``token:<id>`` (revoking the token ends it) or ``launch:<hash>`` (one
# `modelyard ui` launch). Kept in the store, not in one process, so every replica knows it and
# a sign-out on one ends it on all.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("binding", String(96), nullable=False),
    Column("principal", String(128), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_ui_sessions_expires", "expires_at"),
)

# ---- progressive delivery ------------------------------------------------------------------
# A rollout's whole state lives here, so a controller that restarts resumes where it was.
rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", String(128), nullable=False),
    Column("candidate_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("baseline_id", Integer, ForeignKey("model_versions.id"), nullable=True),
    Column("strategy", JSON, nullable=False),
    Column("step", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("history", JSON, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("step_started_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_rollouts_endpoint_status", "endpoint", "status"),
)

# Leader leases: one controller acts at a time across replicas.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# ---- monitoring ---------------------------------------------------------------------------
# Closed window sketches, one row per (endpoint, version, replica, window start). Replicas
# write their own rows; the monitor merges them (sketches merge exactly).
monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", String(128), nullable=False),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("replica", String(128), nullable=False),
    Column("start", UTCDateTime(), nullable=False),
    Column("end", UTCDateTime(), nullable=False),
    Column("requests", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("cpu_s", Float, nullable=True),  # inference CPU-seconds spent in this window
    Column("sketch", Text, nullable=False),  # WindowSketch JSON
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("endpoint", "version_id", "replica", "start", name="uq_monitor_windows"),
    Index("ix_monitor_windows_endpoint_start", "endpoint", "start"),
)

# The monitor's verdict on a merged window (all replicas): drift, latency, errors, quality.
monitor_results = Table(
    "monitor_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", String(128), nullable=False),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("start", UTCDateTime(), nullable=False),
    Column("end", UTCDateTime(), nullable=False),
    Column("requests", BigInteger, nullable=False),
    Column("summary", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("endpoint", "version_id", "start", name="uq_monitor_results"),
    Index("ix_monitor_results_endpoint_start", "endpoint", "start"),
)

# Alerts: one row per firing episode of a rule on an endpoint.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", String(128), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("tier", String(16), nullable=False),  # warning | critical | emergency
    Column("state", String(16), nullable=False),  # firing | acknowledged | resolved
    Column("value", Float, nullable=True),
    Column("message", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("acknowledged_by", String(128), nullable=True),
    Index("ix_alerts_endpoint_state", "endpoint", "state"),
)

# Sustain/recovery counters per (endpoint, rule), so a restart does not reset them.
alert_rule_state = Table(
    "alert_rule_state",
    metadata,
    Column("endpoint", String(128), primary_key=True),
    Column("rule", String(128), primary_key=True),
    Column("breaches", Integer, nullable=False),  # consecutive windows over the threshold
    Column("clears", Integer, nullable=False),  # consecutive windows back under it
    Column("last_start", UTCDateTime(), nullable=True),  # last window evaluated
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Each attempt to hand an alert event to a sink; status 'dead' is the dead-letter record.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=False),
    Column("sink", String(256), nullable=False),
    Column("event", String(32), nullable=False),  # fired | acknowledged | resolved | ...
    Column("status", String(16), nullable=False),  # delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_alert_deliveries_status", "status"),
)

# Actions taken (or, dry-run, proposed) by playbooks, each tied to the alert that caused it.
playbook_actions = Table(
    "playbook_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=True),
    Column("endpoint", String(128), nullable=False),
    Column("playbook", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # done | failed | dry-run | skipped
    Column("dry_run", Boolean, nullable=False),
    Column("details", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_playbook_actions_endpoint", "endpoint"),
)

# Ground-truth labels posted against prediction ids. The prediction's version, time and output
# are joined in from the prediction log by the monitor (labels may arrive days later; they
# count in the window of their prediction).
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prediction_id", String(64), nullable=False, unique=True),
    Column("endpoint", String(128), nullable=True),
    Column("label", JSON, nullable=False),
    Column("source", String(32), nullable=False),  # api | file | review
    Column("reviewer", String(128), nullable=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=True),
    Column("predicted_at", UTCDateTime(), nullable=True),
    Column("output", JSON, nullable=True),
    Column("input", JSON, nullable=True),
    Index("ix_feedback_endpoint_predicted", "endpoint", "predicted_at"),
)

# Predictions awaiting a human: low confidence or sampled. A decision becomes a feedback label.
review_items = Table(
    "review_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prediction_id", String(64), nullable=False, unique=True),
    Column("endpoint", String(128), nullable=False),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("predicted_at", UTCDateTime(), nullable=False),
    Column("input", JSON, nullable=False),
    Column("output", JSON, nullable=False),
    Column("score", Float, nullable=True),
    Column("reason", String(32), nullable=False),  # low-confidence | sampled
    Column("status", String(16), nullable=False),  # pending | confirmed | corrected
    Column("label", JSON, nullable=True),
    Column("reviewer", String(128), nullable=True),
    Column("decided_at", UTCDateTime(), nullable=True),
    Index("ix_review_items_status", "status", "endpoint"),
)
