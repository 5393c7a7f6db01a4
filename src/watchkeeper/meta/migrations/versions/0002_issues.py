"""Issues: groups of errors with their status, releases and severity.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("grouping_key", sa.Text, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("type", sa.String(256), nullable=False),
        sa.Column("culprit", sa.String(600), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_seen", sa.BigInteger, nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
        sa.Column("first_release", sa.String(256), nullable=False),
        sa.Column("last_release", sa.String(256), nullable=False),
        sa.Column("resolved_in_release", sa.String(256), nullable=False),
        sa.Column("resolved_at", sa.BigInteger, nullable=False),
        sa.Column("times_seen", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issues")),
        sa.UniqueConstraint(
            "project_id", "fingerprint", name=op.f("uq_issues_project_id_fingerprint")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_issues_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "status IN ('unresolved', 'resolved', 'ignored', 'regressed')",
            name=op.f("ck_issues_status"),
        ),
        sa.CheckConstraint(
            "severity IN ('critical', 'major', 'minor')", name=op.f("ck_issues_severity")
        ),
    )
    op.create_index(op.f("ix_issues_project_id_last_seen"), "issues", ["project_id", "last_seen"])


def downgrade() -> None:
    op.drop_table("issues")
