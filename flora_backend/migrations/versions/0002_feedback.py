"""Feedback recorded through feedback.record.

Revision ID: backend_0002
Revises: backend_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "backend_0002"
down_revision = "backend_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backend_feedback",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("attempted_tools", sa.JSON(), nullable=True),
        sa.Column("project_id", sa.String(length=40), nullable=True),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["backend_workspaces.id"],
            name=op.f("fk_backend_feedback_workspace_id_backend_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backend_feedback")),
    )
    op.create_index(
        "ix_backend_feedback_ws_created", "backend_feedback", ["workspace_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_backend_feedback_ws_created", table_name="backend_feedback")
    op.drop_table("backend_feedback")
