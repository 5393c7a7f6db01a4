"""Alerts: rules, alert instances, their history, silences, acknowledgements, notification
attempts, the notification policy's state and the evaluator's lease.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def _project(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id"],
        ["projects.id"],
        name=op.f(f"fk_{table}_project_id_projects"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_eval", sa.BigInteger, nullable=False),
        sa.Column("health", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_alert_rules_project_id_name")),
        _project("alert_rules"),
        sa.CheckConstraint("source IN ('file', 'ui')", name=op.f("ck_alert_rules_source")),
    )
    op.create_table(
        "alert_instances",
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("annotations", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("active_at", sa.BigInteger, nullable=False),
        sa.Column("fired_at", sa.BigInteger, nullable=False),
        sa.Column("last_true", sa.BigInteger, nullable=False),
        sa.Column("last_eval", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_alert_instances")),
        _project("alert_instances"),
        sa.CheckConstraint("state IN ('pending', 'firing')", name=op.f("ck_alert_instances_state")),
    )
    op.create_index(op.f("ix_alert_instances_project_id"), "alert_instances", ["project_id"])
    op.create_table(
        "alert_history",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_history")),
        _project("alert_history"),
        sa.CheckConstraint(
            "to_state IN ('inactive', 'pending', 'firing', 'resolved')",
            name=op.f("ck_alert_history_to_state"),
        ),
    )
    op.create_index(op.f("ix_alert_history_project_id_at"), "alert_history", ["project_id", "at"])
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("matchers", sa.Text, nullable=False),
        sa.Column("starts_at", sa.BigInteger, nullable=False),
        sa.Column("ends_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
        _project("silences"),
    )
    op.create_index(op.f("ix_silences_project_id_ends_at"), "silences", ["project_id", "ends_at"])
    op.create_table(
        "alert_acks",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("by", sa.String(320), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_acks")),
        _project("alert_acks"),
    )
    op.create_index(
        op.f("ix_alert_acks_project_id_fingerprint"), "alert_acks", ["project_id", "fingerprint"]
    )
    op.create_table(
        "notification_attempts",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("escalation", sa.Integer, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attempts")),
        _project("notification_attempts"),
    )
    op.create_index(
        op.f("ix_notification_attempts_project_id_at"),
        "notification_attempts",
        ["project_id", "at"],
    )
    op.create_table(
        "alert_policy_state",
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_alert_policy_state")),
        _project("alert_policy_state"),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    for table in (
        "leases", "alert_policy_state", "notification_attempts", "alert_acks", "silences",
        "alert_history", "alert_instances", "alert_rules",
    ):  # fmt: skip
        op.drop_table(table)
