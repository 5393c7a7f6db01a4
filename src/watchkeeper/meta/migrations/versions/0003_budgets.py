"""Budgets: a monthly LLM spending budget per project.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("monthly_usd", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_budgets")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_budgets_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("monthly_usd >= 0", name=op.f("ck_budgets_monthly_usd")),
    )


def downgrade() -> None:
    op.drop_table("budgets")
